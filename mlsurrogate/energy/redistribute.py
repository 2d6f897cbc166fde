"""Move a distributed 3-D field from one block layout to another (one Alltoallv). Stage: energy.

Used once per energy evaluation: the density leaves the descriptor stage's brick blocks for the FFT's
slabs/pencils. Only the scalar field moves (8 bytes per grid point); every rank learns all boxes with one
allgather of six integers.
"""
import numpy as np

__all__ = ["redistribute"]


def _overlap(start_a, shape_a, start_b, shape_b):
    lo = np.maximum(start_a, start_b)
    hi = np.minimum(np.add(start_a, shape_a), np.add(start_b, shape_b))
    return (lo, hi) if np.all(hi > lo) else None


def _local(box, start):
    lo, hi = box
    return tuple(slice(int(l - s), int(h - s)) for l, h, s in zip(lo, hi, start))


def redistribute(comm, block, start, dst_start, dst_shape):
    """This rank's box ``dst_start``/``dst_shape`` of the global field whose local part is ``block``. Collective.

    block : (a, b, c) float64, this rank's box starting at global index ``start``. The boxes of all ranks in
    each layout must tile the same global grid (no periodic wrap).
    """
    from mpi4py import MPI
    block = np.ascontiguousarray(block, dtype=np.float64)
    boxes = comm.allgather((tuple(map(int, start)), block.shape, tuple(map(int, dst_start)),
                            tuple(map(int, dst_shape))))
    send_boxes, send_counts = [], np.zeros(comm.size, dtype=np.int64)
    recv_boxes, recv_counts = [], np.zeros(comm.size, dtype=np.int64)
    for p, (src_s, src_n, dst_s, dst_n) in enumerate(boxes):
        box = _overlap(start, block.shape, dst_s, dst_n)        # mine -> p
        send_boxes.append(box)
        if box is not None:
            send_counts[p] = int(np.prod(box[1] - box[0]))
        box = _overlap(src_s, src_n, dst_start, dst_shape)      # p -> mine
        recv_boxes.append(box)
        if box is not None:
            recv_counts[p] = int(np.prod(box[1] - box[0]))
    sdispl = np.concatenate([[0], np.cumsum(send_counts)[:-1]])
    rdispl = np.concatenate([[0], np.cumsum(recv_counts)[:-1]])
    sendbuf = np.empty(int(send_counts.sum()))
    for p, box in enumerate(send_boxes):                        # one copy into the send buffer
        if box is not None:
            sl = _local(box, start)
            sendbuf[sdispl[p]:sdispl[p] + send_counts[p]].reshape([s.stop - s.start for s in sl])[...] = block[sl]
    recvbuf = np.empty(int(recv_counts.sum()))
    comm.Alltoallv([sendbuf, (send_counts, sdispl), MPI.DOUBLE], [recvbuf, (recv_counts, rdispl), MPI.DOUBLE])
    del sendbuf
    out = np.empty(tuple(dst_shape))
    for p, box in enumerate(recv_boxes):
        if box is not None:
            sl = _local(box, dst_start)
            out[sl] = recvbuf[rdispl[p]:rdispl[p] + recv_counts[p]].reshape([s.stop - s.start for s in sl])
    return out
