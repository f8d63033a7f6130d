"""Compiled (numba) kernels of the inference engine (:mod:`spikejet.snn.engine`).

One call runs the whole time loop of a range of jets: each jet's state lives in
small scratch arrays (L1-resident), the layers run one after another inside the
step, and a spiking layer hands its spikes to the next one as 64-bit masks
(one bit per neuron, built in the vectorized neuron-update loop); the next
layer's input is the sum of the weight rows of the set bits (event-driven
accumulation, found with count-trailing-zeros). No dense matrix product runs
inside the time loop.

Layout: every layer's neurons are padded to a multiple of 64 (state, masks)
and its weight rows to a multiple of 16 floats/ints (one AVX-512 register);
padded neurons have zero weights, zero bias and start at 0, so they never
spike. Weight matrices are ``W^T`` ([n_in, n_out_padded]) so a spike reads one
contiguous row. Indices are unsigned so that numba emits no negative-index
wrap-around (which blocks LLVM's vectorizer: 2.5 vs 5.3 ns per 32-float row).

The float kernel repeats the reference simulator's float32 operations in the
same order per neuron (``v += z`` then compare, reset by ``v - th`` or ``0``,
LIF ``i = i*ds + z; v = v*dm + i``); the synaptic sums add the same weights in
a different order than BLAS does, so they may differ by float32 rounding. The
integer kernel is the Loihi compartment of :mod:`spikejet.hardware.loihi`
step for step (int64 arithmetic, the same shifts, wrap and saturation).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types, uint64
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

# neuron kinds
K_IF, K_LIF, K_SRELU, K_NONE = 0, 1, 2, 3
# input encodings
ENC_CURRENT, ENC_POISSON, ENC_REGULAR = 0, 1, 2
# read-outs: running sum (count, membrane), exponential filter, alpha filter
RO_SUM, RO_EXP, RO_ALPHA = 0, 1, 2
#: Neurons per spike mask word.
MASK_BITS = 64
#: Weight rows are padded to this many elements (one 512-bit register of float32/int32).
ROW_PAD = 16

_JIT = dict(boundscheck=False, nogil=True, cache=True, error_model="numpy")


@intrinsic
def mask_rowsum(typingctx, m, w, base, stride, z, zoff, cnt, cnt_off, nvec, init):
    """``z[zoff : zoff + 16 nvec] += sum of rows (base + b) of w`` for every set bit ``b`` of ``m``.

    Also ``cnt.flat[cnt_off + b] += 1`` per set bit (the spike counters). With
    ``init`` (a compile-time constant) the sums start from 0 instead of ``z``. The
    partial sums stay in vector registers over all events (LLVM IR with
    ``<16 x T>`` vectors; a plain loop stores ``z`` back after every row and the
    next row's load waits on that store), and the rows are added in bit order,
    i.e. in increasing neuron index. ``w`` and ``z`` share their element type
    (float32, int32 or int64); ``nvec`` must be a compile-time constant.
    """
    # Numerical kernel: it emits one LLVM IR routine; its length is the IR it writes.
    if not isinstance(nvec, types.IntegerLiteral) or not isinstance(w, types.Array) or \
            not isinstance(z, types.Array) or w.dtype != z.dtype or \
            not isinstance(init, types.BooleanLiteral):
        return None
    nv = int(nvec.literal_value)
    from_zero = bool(init.literal_value)
    is_float = isinstance(w.dtype, types.Float)
    sig = types.void(m, w, base, stride, z, zoff, cnt, cnt_off, nvec, init)

    def codegen(context, builder, signature, args):
        m_v, w_v, base_v, stride_v, z_v, zoff_v, cnt_v, coff_v, _, _ = args
        i64 = ir.IntType(64)
        cast = lambda v, ty: context.cast(builder, v, ty, types.int64)  # noqa: E731
        sa = signature.args
        m_v = context.cast(builder, m_v, sa[0], types.uint64)
        base_v, stride_v, zoff_v, coff_v = (cast(base_v, sa[2]), cast(stride_v, sa[3]),
                                            cast(zoff_v, sa[5]), cast(coff_v, sa[7]))
        wptr = context.make_array(sa[1])(context, builder, w_v).data
        zptr = context.make_array(sa[4])(context, builder, z_v).data
        cptr = context.make_array(sa[6])(context, builder, cnt_v).data
        elem = context.get_data_type(sa[1].dtype)
        vec = ir.VectorType(elem, 16)
        vptr = vec.as_pointer()
        zp = builder.gep(zptr, [zoff_v])
        lanes = [builder.gep(zp, [ir.Constant(i64, 16 * k)]) for k in range(nv)]
        if from_zero:
            accs = [ir.Constant(vec, [0.0 if is_float else 0] * 16) for _ in lanes]
        else:
            accs = [builder.load(builder.bitcast(p, vptr), align=4) for p in lanes]
        entry = builder.block
        loop = builder.append_basic_block("rowsum.loop")
        body = builder.append_basic_block("rowsum.body")
        done = builder.append_basic_block("rowsum.done")
        builder.branch(loop)
        builder.position_at_end(loop)
        mphi = builder.phi(i64)
        mphi.add_incoming(m_v, entry)
        aphis = []
        for a in accs:
            ph = builder.phi(vec)
            ph.add_incoming(a, entry)
            aphis.append(ph)
        builder.cbranch(builder.icmp_unsigned("==", mphi, ir.Constant(i64, 0)), done, body)
        builder.position_at_end(body)
        # declared with its is-zero-poison flag (llvmlite's declare_intrinsic gives a one-argument
        # declaration, which is invalid IR unless numba's trailing_zeros declared it first)
        cttz = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [i64, ir.IntType(1)]),
                                              "llvm.cttz.i64")
        tz = builder.call(cttz, [mphi, ir.Constant(ir.IntType(1), 1)])
        mnext = builder.and_(mphi, builder.sub(mphi, ir.Constant(i64, 1)))
        rp = builder.gep(wptr, [builder.add(base_v, builder.mul(tz, stride_v))])
        new = []
        for k, ph in enumerate(aphis):
            row = builder.load(builder.bitcast(builder.gep(rp, [ir.Constant(i64, 16 * k)]), vptr), align=4)
            new.append(builder.fadd(ph, row) if is_float else builder.add(ph, row))
        cp = builder.gep(cptr, [builder.add(coff_v, tz)])
        cval = builder.load(cp)
        one = ir.Constant(cval.type, 1.0 if isinstance(sa[6].dtype, types.Float) else 1)
        builder.store(builder.fadd(cval, one) if isinstance(sa[6].dtype, types.Float)
                      else builder.add(cval, one), cp)
        mphi.add_incoming(mnext, body)
        for ph, nw in zip(aphis, new, strict=True):
            ph.add_incoming(nw, body)
        builder.branch(loop)
        builder.position_at_end(done)
        for ph, p in zip(aphis, lanes, strict=True):
            builder.store(ph, builder.bitcast(p, vptr), align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def dense_fma(typingctx, x, xoff, n, w, stride, z, zoff, nvec):
    """``z[zoff + l] = sum_j x[xoff + j] * w[j * stride + l]`` for ``l < 16 nvec`` (flat arrays).

    Computed as MKL's single-threaded sgemm computes a row of ``addmm`` (the
    reference's first layer): one fused multiply-add per input, ``j = 0..n-1``
    in order, starting from 0 (the bias is added afterwards, by the neuron
    update). On the machines tested this reproduces ``torch.addmm`` bit for bit.
    """
    if not isinstance(nvec, types.IntegerLiteral):
        return None
    nv = int(nvec.literal_value)

    def codegen(context, builder, signature, args):
        x_v, xoff_v, n_v, w_v, st_v, z_v, zoff_v, _ = args
        sa = signature.args
        i64 = ir.IntType(64)
        f32 = ir.FloatType()
        vec = ir.VectorType(f32, 16)
        vptr = vec.as_pointer()
        xoff_v, n_v, st_v, zoff_v = (context.cast(builder, a, t, types.int64) for a, t in
                                     ((xoff_v, sa[1]), (n_v, sa[2]), (st_v, sa[4]), (zoff_v, sa[6])))
        xptr = builder.gep(context.make_array(sa[0])(context, builder, x_v).data, [xoff_v])
        wptr = context.make_array(sa[3])(context, builder, w_v).data
        zptr = builder.gep(context.make_array(sa[5])(context, builder, z_v).data, [zoff_v])
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec, vec, vec]),
                                             "llvm.fma.v16f32")
        zero = ir.Constant(vec, [0.0] * 16)
        entry = builder.block
        loop = builder.append_basic_block("dense.loop")
        body = builder.append_basic_block("dense.body")
        done = builder.append_basic_block("dense.done")
        builder.branch(loop)
        builder.position_at_end(loop)
        jphi = builder.phi(i64)
        jphi.add_incoming(ir.Constant(i64, 0), entry)
        aphis = []
        for _ in range(nv):
            ph = builder.phi(vec)
            ph.add_incoming(zero, entry)
            aphis.append(ph)
        builder.cbranch(builder.icmp_signed(">=", jphi, n_v), done, body)
        builder.position_at_end(body)
        xj = builder.load(builder.gep(xptr, [jphi]))
        undef = ir.Constant(vec, None)
        xs = builder.shuffle_vector(builder.insert_element(undef, xj, ir.Constant(ir.IntType(32), 0)), undef,
                                    ir.Constant(ir.VectorType(ir.IntType(32), 16), [0] * 16))
        rp = builder.gep(wptr, [builder.mul(jphi, st_v)])
        new = []
        for k, ph in enumerate(aphis):
            row = builder.load(builder.bitcast(builder.gep(rp, [ir.Constant(i64, 16 * k)]), vptr), align=4)
            new.append(builder.call(fma, [xs, row, ph]))
        jphi.add_incoming(builder.add(jphi, ir.Constant(i64, 1)), body)
        for ph, nw in zip(aphis, new, strict=True):
            ph.add_incoming(nw, body)
        builder.branch(loop)
        builder.position_at_end(done)
        for k, ph in enumerate(aphis):
            builder.store(ph, builder.bitcast(builder.gep(zptr, [ir.Constant(i64, 16 * k)]), vptr), align=4)
        return context.get_dummy_value()

    return types.void(x, xoff, n, w, stride, z, zoff, nvec), codegen


@njit(boundscheck=False, nogil=True, cache=True, inline="always")
def dense(x, xoff, n, w, stride, z, zoff, nv):
    """:func:`dense_fma` for a run-time ``nv`` (1..8 vectors of 16); False if larger."""
    if nv == 4:
        dense_fma(x, xoff, n, w, stride, z, zoff, 4)
    elif nv == 1:
        dense_fma(x, xoff, n, w, stride, z, zoff, 1)
    elif nv == 2:
        dense_fma(x, xoff, n, w, stride, z, zoff, 2)
    elif nv == 3:
        dense_fma(x, xoff, n, w, stride, z, zoff, 3)
    elif nv == 5:
        dense_fma(x, xoff, n, w, stride, z, zoff, 5)
    elif nv == 6:
        dense_fma(x, xoff, n, w, stride, z, zoff, 6)
    elif nv == 7:
        dense_fma(x, xoff, n, w, stride, z, zoff, 7)
    elif nv == 8:
        dense_fma(x, xoff, n, w, stride, z, zoff, 8)
    else:
        return False
    return True


@intrinsic
def popcount(typingctx, m):
    """Number of set bits of a uint64 (LLVM ``ctpop``)."""
    if not isinstance(m, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        v = context.cast(builder, args[0], signature.args[0], types.uint64)
        f = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(f, [v])

    return types.int64(m), codegen


@intrinsic
def neuron16(typingctx, kind, sub, v, c, z, b, off, th, ds, dm):
    """One step of 16 IF/LIF neurons ``off..off+15`` of the flat float32 arrays; returns their spikes.

    The reference's float32 step in the same order (``x = v + (z + b)``; LIF:
    ``c = c*ds + (z + b); x = v*dm + c``), spike where ``x >= th``, reset by
    ``x - th`` (``sub``) or to 0, as ``<16 x float>`` vector code; the result is
    the 16-bit spike mask (bit q = neuron off+q). ``kind`` (K_IF/K_LIF) and
    ``sub`` must be compile-time constants.
    """
    if not isinstance(kind, types.IntegerLiteral) or not isinstance(sub, types.BooleanLiteral):
        return None
    lif = int(kind.literal_value) == K_LIF
    subtract = bool(sub.literal_value)

    def codegen(context, builder, signature, args):
        _, _, v_v, c_v, z_v, b_v, off_v, th_v, ds_v, dm_v = args
        sa = signature.args
        i64 = ir.IntType(64)
        f32 = ir.FloatType()
        vec = ir.VectorType(f32, 16)
        vptr = vec.as_pointer()
        off_v = context.cast(builder, off_v, sa[6], types.int64)

        def ptr(arr_v, ty):
            data = context.make_array(ty)(context, builder, arr_v).data
            return builder.bitcast(builder.gep(data, [off_v]), vptr)

        def splat(x, ty):
            x = context.cast(builder, x, ty, types.float32)
            undef = ir.Constant(vec, None)
            x0 = builder.insert_element(undef, x, ir.Constant(ir.IntType(32), 0))
            return builder.shuffle_vector(x0, undef, ir.Constant(ir.VectorType(ir.IntType(32), 16), [0] * 16))

        pv, pz, pb = ptr(v_v, sa[2]), ptr(z_v, sa[4]), ptr(b_v, sa[5])
        vv = builder.load(pv, align=4)
        zb = builder.fadd(builder.load(pz, align=4), builder.load(pb, align=4))
        thv = splat(th_v, sa[7])
        if lif:
            pc = ptr(c_v, sa[3])
            cc = builder.fadd(builder.fmul(builder.load(pc, align=4), splat(ds_v, sa[8])), zb)
            builder.store(cc, pc, align=4)
            x = builder.fadd(builder.fmul(vv, splat(dm_v, sa[9])), cc)
        else:
            x = builder.fadd(vv, zb)
        f = builder.fcmp_ordered(">=", x, thv)
        reset = builder.fsub(x, thv) if subtract else ir.Constant(vec, [0.0] * 16)
        builder.store(builder.select(f, reset, x), pv, align=4)
        bits = builder.bitcast(f, ir.IntType(16))
        return builder.zext(bits, i64)

    return types.uint64(kind, sub, v, c, z, b, off, th, ds, dm), codegen


@njit(boundscheck=False, nogil=True, cache=True, inline="always")
def neurons64(kind, sub, v, c, z, b, off, th, ds, dm, groups):
    """Up to four :func:`neuron16` calls (``groups`` of 16 neurons): the spike mask of ``off..off+63``."""
    m = neuron16(kind, sub, v, c, z, b, off, th, ds, dm)
    if groups > 1:
        m |= neuron16(kind, sub, v, c, z, b, off + 16, th, ds, dm) << uint64(16)
        if groups > 2:
            m |= neuron16(kind, sub, v, c, z, b, off + 32, th, ds, dm) << uint64(32)
            if groups > 3:
                m |= neuron16(kind, sub, v, c, z, b, off + 48, th, ds, dm) << uint64(48)
    return m


@njit(boundscheck=False, nogil=True, cache=True, inline="always")
def rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, nv, init):
    """:func:`mask_rowsum` for run-time ``nv`` (16-lane vectors per row, 1..8) and ``init``;
    False if ``nv`` is larger."""
    if nv == 2:
        if init:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 2, True)
        else:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 2, False)
    elif nv == 1:
        if init:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 1, True)
        else:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 1, False)
    elif nv == 4:
        if init:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 4, True)
        else:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 4, False)
    elif nv == 3:
        if init:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 3, True)
        else:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 3, False)
    elif nv == 5:
        if init:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 5, True)
        else:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 5, False)
    elif nv == 6:
        if init:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 6, True)
        else:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 6, False)
    elif nv == 7:
        if init:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 7, True)
        else:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 7, False)
    elif nv == 8:
        if init:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 8, True)
        else:
            mask_rowsum(m, w, base, stride, z, zoff, cnt, cnt_off, 8, False)
    else:
        return False
    return True


# ----------------------------------------------------------------------- float


@njit(**_JIT)
def _float_range(b0, b1, T, enc, cur0, prob, sgn, fired, ws, bias, kind, th, sub, dsyn, dmem,
                 gain, vinit, p16, p64, offs, out_value, ro, fa, fb, rec_row, score_row,
                 pred, scores, scores_at, cnt, in_cnt, jet, want_jet):
    """Jets ``b0..b1-1`` for ``T`` steps; counts go to this range's ``cnt`` / ``in_cnt``.

    ``ws[l]``: layer l's ``W^T`` (rows: inputs, padded columns); ``bias[l]``, ``vinit[l]``
    padded. No array views are taken inside the loops (each would cost reference
    counting), every access is a plain index into a 2-D/3-D array.
    """
    # Numerical kernel: one compiled loop over jets, steps and layers; split into functions it would pay a call per neuron block in the hot loop (measured in docs/snn.md).
    L = kind.shape[0]
    Pmax = bias.shape[1]
    R = ws.shape[1]
    S = ws.shape[2]
    Ntot = cnt.shape[1]
    C = scores.shape[1]
    n_in = prob.shape[1] if enc != ENC_CURRENT else cur0.shape[1]
    nin_blk = (n_in + 63) // 64
    v = np.zeros((L, Pmax), np.float32)
    cur = np.zeros((L, Pmax), np.float32)
    z = np.zeros((L, Pmax), np.float32)
    sval = np.zeros(Pmax, np.float32)
    masks = np.zeros((Pmax + 63) // 64, np.uint64)
    in_masks = np.zeros(max(nin_blk, 1), np.uint64)
    inacc = np.zeros(n_in, np.float32)
    sig = np.zeros(C, np.float32)
    acc = np.zeros(C, np.float32)
    mid = np.zeros(C, np.float32)
    out_spiking = kind[L - 1] != K_NONE
    zero = np.float32(0.0)
    half = np.float32(0.5)
    onef = np.float32(1.0)
    vf = v.reshape(-1)
    cf = cur.reshape(-1)
    zf = z.reshape(-1)
    bf = bias.reshape(-1)
    xf = cur0.reshape(-1)
    wf = ws.reshape(-1)
    for b in range(b0, b1):
        for li in range(L):
            for i in range(Pmax):
                v[li, i] = vinit[li, i]
                cur[li, i] = zero
        if enc == ENC_CURRENT:  # the constant first-layer current, once per jet
            if not dense(xf, b * n_in, n_in, wf, S, zf, 0, p16[0] // 16):
                for i in range(p16[0]):
                    a = np.float32(0.0)
                    for j in range(n_in):
                        a += cur0[b, j] * ws[0, j, i]
                    z[0, i] = a
        for k in range(C):
            acc[k] = zero
            mid[k] = zero
        if enc == ENC_REGULAR:
            for j in range(n_in):
                inacc[j] = half
        for t in range(T):
            # ---- input events into layer 0 (rate codes): masks, then weight rows
            if enc != ENC_CURRENT:
                for blk in range(nin_blk):
                    in_masks[blk] = uint64(0)
                if enc == ENC_POISSON:
                    for j in range(n_in):
                        f = fired[t, b, j] != 0
                        in_masks[j >> 6] |= uint64(f) << uint64(j & 63)
                else:
                    for j in range(n_in):
                        a = inacc[j] + prob[b, j]
                        f = a >= onef
                        inacc[j] = a - onef if f else a
                        in_masks[j >> 6] |= uint64(f) << uint64(j & 63)
                n16 = p16[0]
                for i in range(n16):
                    z[0, i] = zero
                for blk in range(nin_blk):
                    m = in_masks[blk]
                    while m:
                        j = uint64(blk * 64) + uint64(trailing_zeros(m))
                        m &= m - uint64(1)
                        in_cnt[t, j] += 1.0
                        s = sgn[b, j]
                        for i in range(n16):
                            z[0, i] += s * ws[0, j, i]
            # ---- layers
            for li in range(L):
                k = kind[li]
                if k == K_NONE:  # non-spiking output: its input current is the signal
                    for i in range(C):
                        sig[i] = z[li, i] + bias[li, i]
                    break
                nblk = p64[li] // 64
                thl = th[li]
                if k == K_IF or k == K_LIF:
                    sb = sub[li]
                    ds = dsyn[li]
                    dm = dmem[li]
                    o = li * Pmax
                    ng = p16[li] // 16
                    for blk in range(nblk):
                        ob = o + blk * 64
                        g = min(4, ng - 4 * blk)
                        if k == K_IF:
                            if sb:
                                masks[blk] = neurons64(0, True, vf, cf, zf, bf, ob, thl, ds, dm, g)
                            else:
                                masks[blk] = neurons64(0, False, vf, cf, zf, bf, ob, thl, ds, dm, g)
                        elif sb:
                            masks[blk] = neurons64(1, True, vf, cf, zf, bf, ob, thl, ds, dm, g)
                        else:
                            masks[blk] = neurons64(1, False, vf, cf, zf, bf, ob, thl, ds, dm, g)
                else:  # K_SRELU: several spikes per step allowed
                    g = gain[li]
                    for blk in range(nblk):
                        m = uint64(0)
                        base = blk * 64
                        for q in range(64):
                            i = base + q
                            zz = z[li, i] + bias[li, i]
                            x = v[li, i] + max(zz, zero) * g
                            nn = np.floor(x)
                            v[li, i] = x - nn
                            sval[i] = nn
                            m |= uint64(nn > zero) << uint64(q)
                        masks[blk] = m
                off = uint64(offs[li])
                tot = 0.0
                if li + 1 < L:
                    ln = li + 1
                    n16 = p16[ln]
                    fast = k != K_SRELU and n16 <= 128
                    if not fast:
                        for i in range(n16):
                            z[ln, i] = zero
                    for blk in range(nblk):
                        m = masks[blk]
                        if fast:
                            if blk == 0 or m:
                                rowsum(m, ws, (ln * R + blk * 64) * S, S, z, ln * Pmax, cnt,
                                       t * Ntot + offs[li] + blk * 64, n16 // 16, blk == 0)
                                if want_jet:
                                    tot += popcount(m)
                            continue
                        while m:
                            j = uint64(blk * 64) + uint64(trailing_zeros(m))
                            m &= m - uint64(1)
                            if k == K_SRELU:
                                val = sval[j]
                                for i in range(n16):
                                    z[ln, i] += val * ws[ln, j, i]
                                cnt[t, off + j] += val
                                tot += val
                            else:
                                for i in range(n16):
                                    z[ln, i] += ws[ln, j, i]
                                cnt[t, off + j] += 1.0
                                tot += 1.0
                else:  # spiking output layer: its spikes are the signal
                    for i in range(C):
                        sig[i] = zero
                    for blk in range(nblk):
                        m = masks[blk]
                        while m:
                            j = uint64(blk * 64) + uint64(trailing_zeros(m))
                            m &= m - uint64(1)
                            val = sval[j] if k == K_SRELU else onef
                            sig[j] = val
                            cnt[t, off + j] += val
                            tot += val
                if want_jet:
                    jet[b, li] += tot
            # ---- read-out
            if ro == RO_SUM:
                for i in range(C):
                    acc[i] += sig[i]
            else:
                if out_spiking and out_value != onef:
                    for i in range(C):
                        sig[i] = sig[i] * out_value
                if ro == RO_EXP:
                    for i in range(C):
                        acc[i] = acc[i] * fa + sig[i] * fb
                else:
                    for i in range(C):
                        mid[i] = mid[i] * fa + sig[i] * fb
                        acc[i] = acc[i] * fa + mid[i] * fb
            tt = t + 1
            r = rec_row[tt]
            if r >= 0:
                best = 0
                for i in range(1, C):
                    if acc[i] > acc[best]:
                        best = i
                pred[r, b] = best
            r = score_row[tt]
            if r >= 0:
                for i in range(C):
                    scores_at[r, b, i] = acc[i] if ro != RO_SUM else acc[i] / np.float32(tt)
        for i in range(C):
            scores[b, i] = acc[i] if ro != RO_SUM else acc[i] / np.float32(T)


@njit(parallel=True, boundscheck=False, nogil=True, cache=True, error_model="numpy")
def _float_parallel(bounds, T, enc, cur0, prob, sgn, fired, ws, bias, kind, th, sub, dsyn, dmem,
                    gain, vinit, p16, p64, offs, out_value, ro, fa, fb, rec_row, score_row,
                    pred, scores, scores_at, cnt, in_cnt, jet, want_jet):
    n = bounds.shape[0] - 1
    for c in prange(n):
        _float_range(bounds[c], bounds[c + 1], T, enc, cur0, prob, sgn, fired, ws, bias, kind, th,
                     sub, dsyn, dmem, gain, vinit, p16, p64, offs, out_value, ro, fa, fb, rec_row,
                     score_row, pred, scores, scores_at, cnt[c], in_cnt[c], jet, want_jet)


def run_float(bounds, *args):
    """Run jets ``bounds[0]..bounds[-1]`` in ``len(bounds) - 1`` ranges (in parallel if more than one)."""
    if len(bounds) == 2:
        a = list(args)
        a[-4] = a[-4][0]  # cnt
        a[-3] = a[-3][0]  # in_cnt
        _float_range(bounds[0], bounds[1], *a)
    else:
        _float_parallel(bounds, *args)


# --------------------------------------------------------------------- integer

# Loihi constants, passed in by the engine from spikejet.hardware.loihi (one source of truth).


@njit(**_JIT)
def _decay(x, factor, bits):
    """``sign(p) * (|p| >> bits)`` with ``p = x * factor``: rounds toward zero."""
    p = x * factor
    q = (p if p >= 0 else -p) >> bits
    return q if p >= 0 else -q


@njit(**_JIT)
def _loihi_range(b0, b1, n_total, ext, ws, wexp, delay, fu, fv, vth, spiking, sub, refractory,
                 bias, vinit, fan, p16, p64, n_real, consts, spike_counts, fu_out, fv_out, fr_out,
                 tallies, rec, tr_u, tr_v, tr_s):
    """Integer network, jets ``b0..b1-1``, ``n_total`` steps; ``tallies[i]`` = spikes, synops, events.

    ``ext`` [T_in, batch, n_in] int64 input events (spikes or graded payloads);
    ``ws[i]`` layer i's ``(m << 1)^T`` int64 [n_in, padded n_out]. One layer
    step is Lava's: dendrite sum of the events that arrive this step (after the
    layer's axon delay), shifted by the weight exponent, then the compartment
    (decay rounding toward zero, u wraps at 24 bits, v saturates, threshold,
    reset, refractory). ``consts``: decay bits, ACT_SHIFT, 2**23, 2**24 - 1,
    V_MAX. ``rec``: 0 no traces, 1 last layer, 2 every layer.
    """
    # Numerical kernel: the integer chip model's whole step loop in one compiled function, as _float_range.
    L = wexp.shape[0]
    Pmax = bias.shape[1]
    R = ws.shape[1]
    S = ws.shape[2]
    T_in = ext.shape[0]
    dbits = consts[0]
    act_shift = consts[1]
    wrap_half = consts[2]
    wrap_mask = consts[3]
    vmax = consts[4]
    n_in0 = ext.shape[2]
    nin_blk = (n_in0 + 63) // 64
    dmax = 0
    for i in range(L):
        dmax = max(dmax, delay[i])
    nblk_max = (Pmax + 63) // 64
    u = np.zeros((L, Pmax), np.int64)
    v = np.zeros((L, Pmax), np.int64)
    rf = np.zeros((L, Pmax), np.int64)
    a = np.zeros((L, Pmax), np.int64)
    af = a.reshape(-1)
    dummy = np.zeros(64, np.int64)  # mask_rowsum counts into it; nothing reads it
    hist = np.zeros((L, dmax + 1, max(nblk_max, 1)), np.uint64)
    emask = np.zeros(max(nin_blk, 1), np.uint64)
    for b in range(b0, b1):
        vb = b if vinit.shape[1] > 1 else 0
        for i in range(L):
            for k in range(Pmax):
                u[i, k] = 0
                v[i, k] = vinit[i, vb, k]
                rf[i, k] = 0
            for s_ in range(dmax + 1):
                for blk in range(nblk_max):
                    hist[i, s_, blk] = uint64(0)
        for t in range(n_total):
            for i in range(L):
                d = delay[i]
                n16 = p16[i]
                for k in range(n16):
                    a[i, k] = 0
                nev = 0
                syn = 0
                if i == 0:
                    te = t - d
                    if te >= 0 and te < T_in:
                        for blk in range(nin_blk):
                            emask[blk] = uint64(0)
                        binary = True
                        for j in range(n_in0):
                            e = ext[te, b, j]
                            emask[j >> 6] |= uint64(e != 0) << uint64(j & 63)
                            binary = binary and (e == 0 or e == 1)
                        for blk in range(nin_blk):
                            m = emask[blk]
                            nev += popcount(m)
                            mm = m
                            while mm:
                                j = uint64(blk * 64) + uint64(trailing_zeros(mm))
                                mm &= mm - uint64(1)
                                syn += fan[0, j]
                            if binary and n16 <= 128:
                                rowsum(m, ws, blk * 64 * S, S, af, 0, dummy, 0, n16 // 16, False)
                            else:
                                while m:
                                    j = uint64(blk * 64) + uint64(trailing_zeros(m))
                                    m &= m - uint64(1)
                                    e = ext[te, b, j]
                                    for k in range(n16):
                                        a[0, k] += ws[0, j, k] * e
                else:
                    slot = (t - d) % (d + 1)
                    for blk in range(p64[i - 1] // 64):
                        m = hist[i, slot, blk]
                        nev += popcount(m)
                        mm = m
                        while mm:
                            j = uint64(blk * 64) + uint64(trailing_zeros(mm))
                            mm &= mm - uint64(1)
                            syn += fan[i, j]
                        if n16 <= 128:
                            rowsum(m, ws, (i * R + blk * 64) * S, S, af, i * Pmax, dummy, 0, n16 // 16, False)
                        else:
                            while m:
                                j = uint64(blk * 64) + uint64(trailing_zeros(m))
                                m &= m - uint64(1)
                                for k in range(n16):
                                    a[i, k] += ws[i, j, k]
                tallies[i, 1] += syn
                tallies[i, 2] += nev
                e_ = wexp[i]
                if e_ >= 0:
                    for k in range(n16):
                        a[i, k] = a[i, k] << e_
                else:
                    for k in range(n16):
                        a[i, k] = a[i, k] >> (-e_)
                # ---- compartments
                th = vth[i]
                refr = refractory[i]
                spk = spiking[i]
                sb = sub[i]
                fui = fu[i]
                fvi = fv[i]
                nspk = 0
                out_slot = 0
                if i + 1 < L:
                    out_slot = t % (delay[i + 1] + 1)
                for blk in range(p64[i] // 64):
                    m = uint64(0)
                    base = blk * 64
                    for q in range(64):
                        k = base + q
                        un = _decay(u[i, k], fui, dbits) + (a[i, k] << act_shift)
                        un = ((un + wrap_half) & wrap_mask) - wrap_half
                        u[i, k] = un
                        vn = _decay(v[i, k], fvi, dbits) + un + bias[i, k]
                        vn = min(max(vn, -vmax), vmax)
                        held = False
                        if refr > 0 or rf[i, k] > 0:
                            held = rf[i, k] > 0
                            if held:
                                vn = v[i, k]
                                rf[i, k] = rf[i, k] - 1
                            else:
                                rf[i, k] = 0
                        f = spk and (vn > th) and not held
                        if f:
                            vn = vn - th if sb else 0
                            if refr > 0:
                                rf[i, k] = refr
                        v[i, k] = vn
                        m |= uint64(f) << uint64(q)
                    if i + 1 < L:
                        hist[i + 1, out_slot, blk] = m
                    nspk += popcount(m)
                    mm = m
                    while mm:
                        j = base + trailing_zeros(mm)
                        mm &= mm - uint64(1)
                        spike_counts[i, b, j] += 1
                    if rec == 2 or (rec == 1 and i == L - 1):
                        ri_ = i if rec == 2 else 0
                        for q in range(64):
                            k = base + q
                            if k < n_real[i]:
                                tr_u[ri_, t, b, k] = u[i, k]
                                tr_v[ri_, t, b, k] = v[i, k]
                                tr_s[ri_, t, b, k] = (m >> uint64(q)) & uint64(1)
                tallies[i, 0] += nspk
        for i in range(L):
            for k in range(n_real[i]):
                fu_out[i, b, k] = u[i, k]
                fv_out[i, b, k] = v[i, k]
                fr_out[i, b, k] = rf[i, k]


@njit(parallel=True, boundscheck=False, nogil=True, cache=True, error_model="numpy")
def _loihi_parallel(bounds, n_total, ext, ws, wexp, delay, fu, fv, vth, spiking, sub, refractory,
                    bias, vinit, fan, p16, p64, n_real, consts, spike_counts, fu_out, fv_out, fr_out,
                    tallies, rec, tr_u, tr_v, tr_s):
    n = bounds.shape[0] - 1
    for c in prange(n):
        _loihi_range(bounds[c], bounds[c + 1], n_total, ext, ws, wexp, delay, fu, fv, vth, spiking,
                     sub, refractory, bias, vinit, fan, p16, p64, n_real, consts, spike_counts, fu_out,
                     fv_out, fr_out, tallies[c], rec, tr_u, tr_v, tr_s)


def run_loihi(bounds, *args):
    """Run jets ``bounds[0]..bounds[-1]`` in ``len(bounds) - 1`` ranges (parallel if more than one)."""
    if len(bounds) == 2:
        a = list(args)
        a[22] = a[22][0]  # tallies of the one range
        _loihi_range(bounds[0], bounds[1], *a)
    else:
        _loihi_parallel(bounds, *args)


# ------------------------------------------------------ specialized kernels' pieces


@intrinsic
def neurons_vec(typingctx, kind, sub, hasb, ngroups, v, voff, z, zoff, b, boff, c, coff, th, ds, dm):
    """One step of ``16 ngroups`` (<= 64) IF/LIF neurons; returns their spike mask (bit q = neuron q).

    As :func:`neuron16`, with constant offsets into flat float32 arrays and the
    input ``z + b`` (``hasb``) or ``z`` alone (``z`` already holds ``z + b``: the
    constant first-layer current, added once per jet with the same rounding).
    ``kind``, ``sub``, ``hasb`` and ``ngroups`` are compile-time constants (the
    code generator of :mod:`spikejet.snn._codegen` writes them as literals).
    """
    lits = (kind, sub, hasb, ngroups)
    if not all(isinstance(x, types.Literal) for x in lits):
        return None
    lif = int(kind.literal_value) == K_LIF
    subtract = bool(sub.literal_value)
    with_b = bool(hasb.literal_value)
    ng = int(ngroups.literal_value)
    if not 1 <= ng <= 4:
        return None

    def codegen(context, builder, signature, args):
        sa = signature.args
        (_, _, _, _, v_v, voff_v, z_v, zoff_v, b_v, boff_v, c_v, coff_v, th_v, ds_v, dm_v) = args
        i64 = ir.IntType(64)
        vec = ir.VectorType(ir.FloatType(), 16)
        vptr = vec.as_pointer()

        def base(arr_v, ty, off_v, off_ty):
            data = context.make_array(ty)(context, builder, arr_v).data
            return builder.gep(data, [context.cast(builder, off_v, off_ty, types.int64)])

        def splat(x, ty):
            x = context.cast(builder, x, ty, types.float32)
            undef = ir.Constant(vec, None)
            x0 = builder.insert_element(undef, x, ir.Constant(ir.IntType(32), 0))
            return builder.shuffle_vector(x0, undef, ir.Constant(ir.VectorType(ir.IntType(32), 16), [0] * 16))

        pv0 = base(v_v, sa[4], voff_v, sa[5])
        pz0 = base(z_v, sa[6], zoff_v, sa[7])
        pb0 = base(b_v, sa[8], boff_v, sa[9]) if with_b else None
        pc0 = base(c_v, sa[10], coff_v, sa[11]) if lif else None
        thv = splat(th_v, sa[12])
        dsv = splat(ds_v, sa[13]) if lif else None
        dmv = splat(dm_v, sa[14]) if lif else None
        out = ir.Constant(i64, 0)
        for g in range(ng):
            k = ir.Constant(i64, 16 * g)
            pv = builder.bitcast(builder.gep(pv0, [k]), vptr)
            zb = builder.load(builder.bitcast(builder.gep(pz0, [k]), vptr), align=4)
            if with_b:
                zb = builder.fadd(zb, builder.load(builder.bitcast(builder.gep(pb0, [k]), vptr), align=4))
            vv = builder.load(pv, align=4)
            if lif:
                pc = builder.bitcast(builder.gep(pc0, [k]), vptr)
                cc = builder.fadd(builder.fmul(builder.load(pc, align=4), dsv), zb)
                builder.store(cc, pc, align=4)
                x = builder.fadd(builder.fmul(vv, dmv), cc)
            else:
                x = builder.fadd(vv, zb)
            f = builder.fcmp_ordered(">=", x, thv)
            reset = builder.fsub(x, thv) if subtract else ir.Constant(vec, [0.0] * 16)
            builder.store(builder.select(f, reset, x), pv, align=4)
            bits = builder.zext(builder.bitcast(f, ir.IntType(16)), i64)
            out = builder.or_(out, builder.shl(bits, ir.Constant(i64, 16 * g)) if g else bits)
        return out

    return types.uint64(*lits, v, voff, z, zoff, b, boff, c, coff, th, ds, dm), codegen
