"""Interest management and snapshot encoding for every observer in one compiled pass.

Per observer, in named steps:
  gather    entities within the leave radius; beyond the enter radius only those already
            known (hysteresis: enter at r_enter, leave past r_leave, so no flicker)
  cap       keep the nearest `cap` when a crowd is denser than that
  merge     against the observer's known set (a hash table per observer): exact enter / leave
  choose    what to send: entered entities, then changed ones that are near or have waited
            `max_interval` ticks (must), then the rest by priority (distance, in front of
            the viewer, staleness) while the byte budget lasts. Unchanged ones are not resent.
  write     one msgpack `snap` frame (header, body records, pose records) into a shared
            buffer at this observer's offset; the server sends memoryview slices of it.

Per-observer state lives in `Interest` (world.sim.pipeline) as (slots x cap) arrays.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from world.sim.encode import BODY_SIZE, POSE_SIZE
from world.sim.grid import cell_coord

FLAG_VR = 1                 # == records.FLAG_VR
HEADER_MAX = 56             # bytes around the records: alignment (3) + WebSocket header (<= 10) + msgpack (<= 41)
YAW_UNITS = 3600


@intrinsic
def prefetch(typingctx, arr, idx):
    """Hint the CPU to fetch element idx of arr's data (flat, C order) into the cache.
    Only a hint: never faults, never changes a result."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [context.cast(builder, args[1], sig.args[1], types.intp)])
        if getattr(ptr.type, "is_opaque", False):
            name = "llvm.prefetch.p0"
        else:                           # typed pointers (older LLVM)
            ptr = builder.bitcast(ptr, ir.IntType(8).as_pointer())
            name = "llvm.prefetch.p0i8"
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]), name)
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])     # read, keep in all levels, data
        return context.get_dummy_value()
    return types.void(arr, idx), codegen


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def quantise(x, y, z, yaw, flags):
    """Quantised body state packed in two words as the record's last 12 bytes:
    (x mm | y mm << 32, z mm | yawf << 16). Scalars only: an inlined helper that takes
    arrays costs reference-count updates (atomic) on every call in a hot loop."""
    qx = np.int64(min(max(np.rint(x * 1000.0), -2147483648.0), 2147483647.0))
    qy = np.int64(min(max(np.rint(y * 1000.0), -2147483648.0), 2147483647.0))
    qz = np.int64(min(max(np.rint(z * 1000.0), -32768.0), 32767.0))
    a = math.degrees(yaw) * 10.0
    # Python's float % (as numba computes it), without its libm fmod call for the usual
    # range: exact there, since a is then a or a + YAW_UNITS rounded once, as % gives.
    if a >= 0.0 and a < YAW_UNITS:
        m = a
    elif a < 0.0 and a >= -YAW_UNITS:
        m = a + YAW_UNITS
    else:
        m = a % YAW_UNITS
    units = np.int64(np.rint(m)) % YAW_UNITS
    return (qx & 0xFFFFFFFF) | ((qy & 0xFFFFFFFF) << 32), (qz & 0xFFFF) | ((units | (np.int64(flags) << 12)) << 16)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def put_u32be(out, pos, v):
    out[pos] = (v >> 24) & 0xFF
    out[pos + 1] = (v >> 16) & 0xFF
    out[pos + 2] = (v >> 8) & 0xFF
    out[pos + 3] = v & 0xFF


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def put_key(out, pos, key):
    """A msgpack fixstr of ASCII codes; returns the new position."""
    out[pos] = 0xA0 | len(key)
    for k in range(len(key)):
        out[pos + 1 + k] = key[k]
    return pos + 1 + len(key)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def table_put(tab_ids, tab_val, tab_gen, gen, eid, val):
    """Insert into an open-addressing table whose live entries carry stamp `gen`."""
    mask = tab_ids.shape[0] - 1
    h = (eid * 2654435761) & mask
    while tab_gen[h] == gen:
        h = (h + 1) & mask
    tab_gen[h] = gen
    tab_ids[h] = eid
    tab_val[h] = val


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def table_get(tab_ids, tab_val, tab_gen, gen, eid):
    """Value stored for eid under stamp `gen`, or -1."""
    mask = tab_ids.shape[0] - 1
    h = (eid * 2654435761) & mask
    while tab_gen[h] == gen:
        if tab_ids[h] == eid:
            return tab_val[h]
        h = (h + 1) & mask
    return -1


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def gather(ko, sid, sx, sy, cell_start, ox, oy, cell, nx, ny, r_enter, r_leave, grid_slack,
           tab_ids, tab_val, tab_gen, gen, cand, cand_d2):
    """Entities within r_leave of the observer at cell-order index ko; past r_enter only if
    already known (in the table). Works on cell-ordered copies (sid, sx, sy), so the scan
    reads memory in order; candidates are cell-order indices."""
    px, py = sx[ko], sy[ko]
    re2, rl2 = r_enter * r_enter, r_leave * r_leave
    # The cells of the square [p - r, p + r], computed as build_grid computes cells (plus a
    # hair of slack for rounding, plus how far anyone moved since the grid was built), so no
    # entity within r can lie outside the scanned block.
    slack = 1e-9 * (abs(px) + abs(py) + r_leave + 1.0) + grid_slack
    gy0 = cell_coord(py - r_leave - slack, oy, cell, ny)
    gy1 = cell_coord(py + r_leave + slack, oy, cell, ny)
    cnt = np.uint64(0)
    for gy in range(gy0, gy1 + 1):
        # Each grid row is scanned only as wide as the circle is over the row's band: an
        # entity there is at least `gap` away vertically (less the slack), so within
        # sqrt(r^2 - gap^2) horizontally. Border rows also hold entities clamped into them
        # from outside the grid, so their outer side has no gap.
        lo = oy + gy * cell
        hi = lo + cell
        gap = 0.0
        if gy > 0 and py < lo:
            gap = lo - py
        elif gy < ny - 1 and py > hi:
            gap = py - hi
        gap -= slack + 1e-9 * (abs(lo) + cell)
        w = r_leave
        if gap > 0.0:
            w = math.sqrt(max(rl2 - gap * gap, 0.0))
        gx0 = cell_coord(px - w - slack, ox, cell, nx)
        gx1 = cell_coord(px + w + slack, ox, cell, nx)
        # the cells gx0..gx1 of one grid row are consecutive: one contiguous range of
        # entities, scanned without branches (the distance test does not predict well)
        for k in range(np.uint64(cell_start[gy * nx + gx0]), np.uint64(cell_start[gy * nx + gx1 + 1])):
            dx, dy = sx[k] - px, sy[k] - py
            d2 = dx * dx + dy * dy
            cand[cnt] = k
            cand_d2[cnt] = d2
            cnt += np.uint64((not d2 > rl2) & (k != np.uint64(ko)))   # (NaN kept, as before)
    # past r_enter: only entities already known stay
    m = 0
    for c in range(cnt):
        d2 = cand_d2[c]
        if d2 > re2 and table_get(tab_ids, tab_val, tab_gen, gen, sid[cand[c]]) < 0:
            continue
        cand[m] = cand[c]
        cand_d2[m] = d2
        m += 1
    return m


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def select_top(idx, score, n, k):
    """Reorder idx[:n] (with its scores) so that idx[:k] holds the k highest scores (quickselect)."""
    lo, hi = 0, n - 1
    while lo < hi:
        pivot = score[(lo + hi) >> 1]
        a, b = lo, hi
        while a <= b:
            while score[a] > pivot:
                a += 1
            while score[b] < pivot:
                b -= 1
            if a <= b:
                score[a], score[b] = score[b], score[a]
                idx[a], idx[b] = idx[b], idx[a]
                a += 1
                b -= 1
        if k - 1 <= b:
            hi = b
        elif k - 1 >= a:
            lo = a
        else:
            return


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def write_header(out, pos, tick, ack, nbody, npose):
    """msgpack map header of a snap frame up to the start of the body records."""
    out[pos] = 0x80 | (5 if npose > 0 else 4)
    pos = put_key(out, pos + 1, (116,))                      # "t"
    pos = put_key(out, pos, (115, 110, 97, 112))             # "snap"
    pos = put_key(out, pos, (116, 105, 99, 107))             # "tick"
    out[pos] = 0xCE
    put_u32be(out, pos + 1, tick & 0xFFFFFFFF)
    pos = put_key(out, pos + 5, (97, 99, 107))               # "ack"
    if ack < 0:
        out[pos] = 0xC0
        pos += 1
    else:
        out[pos] = 0xCE
        put_u32be(out, pos + 1, ack)
        pos += 5
    pos = put_key(out, pos, (98,))                           # "b"
    out[pos] = 0xC6
    put_u32be(out, pos + 1, nbody * BODY_SIZE)
    return pos + 5


@njit(cache=True, nogil=True, error_model="numpy")
def serve(lo, hi, pos, n_enter, n_leave, obs_rows, kof, slot_of, ids, x, y, z, yaw, flags, pose, pose_tick,
          cell_start, cell_rows, ox, oy, cell, nx, ny,
          r_enter, r_leave, near_r, cap, budget, max_interval, tick, grid_slack,
          known_ids, known_n, sent_q, sent_tick, acks,
          out, ws_start, start, end, enter_ids, enter_off, leave_ids, leave_off,
          qall, qstamp, stamp, sx, sy, sid, sfl, spt, cand_rows, cand_d2):
    """Serve observers obs_rows[lo:hi] (already in cell order): frames from out[pos], entered
    and left ids from enter_ids[n_enter] and leave_ids[n_leave], enter_off / leave_off
    [lo + 1:hi + 1] set to the running counts; returns (pos, n_enter, n_leave) at the end.
    A call owns its scratch (qall, qstamp, cand_*), so calls on disjoint observer ranges and
    output regions can run at the same time."""
    prev = np.empty(cap, np.int32)
    send = np.zeros(cap, np.bool_)
    score = np.empty(cap, np.float64)
    opt = np.empty(cap, np.int32)
    opt_score = np.empty(cap, np.float64)
    out32 = out[:(out.shape[0] // 4) * 4].view(np.uint32)
    tsize = 1
    while tsize < 4 * cap:
        tsize *= 2
    tab_ids = np.empty(tsize, np.int64)
    tab_val = np.empty(tsize, np.int32)
    tab_gen = np.full(tsize, -1, np.int64)
    seen = np.zeros(cap, np.bool_)
    l_tick = np.empty(cap, np.int64)
    l_q0 = np.empty(cap, np.int64)
    l_q1 = np.empty(cap, np.int64)
    near2 = near_r * near_r
    kcols = known_ids.shape[1]
    for i in range(lo, hi):
        o = obs_rows[i]
        ko = kof[o]
        s = slot_of[o]
        if i + 1 < hi:
            # the next observer's slot state is cold (1,000 slots a tick do not stay in L2):
            # ask for it now, so it arrives while this observer is served
            s1 = slot_of[obs_rows[i + 1]]
            kn1 = known_n[s1]
            for a in range(0, kn1, 8):
                prefetch(known_ids, s1 * kcols + a)
                prefetch(sent_tick, s1 * kcols + a)
                prefetch(sent_q, 2 * (s1 * kcols + a))
                prefetch(sent_q, 2 * (s1 * kcols + a) + 8)
        # the known set as a hash table: id -> index in the known list
        kn = known_n[s]
        for a in range(kn):
            seen[a] = False
            if known_ids[s, a] >= 0:
                table_put(tab_ids, tab_val, tab_gen, i, known_ids[s, a], a)
            # the slot's sent state, read in order (the prefetcher streams it) into local
            # copies that the choose step then reads in candidate order from L1
            l_tick[a] = sent_tick[s, a]
            l_q0[a] = sent_q[s, a, 0]
            l_q1[a] = sent_q[s, a, 1]
        # gather + cap
        cnt = gather(ko, sid, sx, sy, cell_start, ox, oy, cell, nx, ny, r_enter, r_leave, grid_slack,
                     tab_ids, tab_val, tab_gen, i, cand_rows, cand_d2)
        m = cnt
        if cnt > cap:
            # keep the nearest `cap`: a quickselect on -d2, no full sort of a dense crowd
            for k in range(cnt):
                cand_d2[k] = -cand_d2[k]
            select_top(cand_rows, cand_d2, cnt, cap)
            for k in range(cap):
                cand_d2[k] = -cand_d2[k]
            m = cap
        # merge against the known set (exact enter / leave) and choose what to send, in one
        # pass: entered entities, then changed ones that are near or have waited
        # max_interval ticks (must), the rest optional
        px, py = sx[ko], sy[ko]
        fx, fy = -math.sin(yaw[o]), math.cos(yaw[o])
        used = BODY_SIZE
        n_opt = 0
        nbody = 1
        npose = 0
        for b in range(m):
            k = cand_rows[b]
            eid = sid[k]
            if qstamp[k] != stamp:          # each entity quantised once per pass
                qstamp[k] = stamp
                j = cell_rows[k]
                w0, w1 = quantise(x[j], y[j], z[j], yaw[j], flags[j])
                qall[k, 0] = w0
                qall[k, 1] = w1
            p = table_get(tab_ids, tab_val, tab_gen, i, eid)
            prev[b] = p
            snd = False
            if p < 0:
                enter_ids[n_enter] = eid
                n_enter += 1
                snd = True
            else:
                seen[p] = True
                last = l_tick[p]
                changed = spt[k] > last or l_q0[p] != qall[k, 0] or l_q1[p] != qall[k, 1]
                if changed:
                    if cand_d2[b] <= near2 or tick - last >= max_interval:
                        snd = True
                    else:
                        d = math.sqrt(cand_d2[b])
                        front = (sx[k] - px) * fx + (sy[k] - py) * fy > 0.0
                        score[b] = (tick - last) * (2.0 if front else 1.0) / (1.0 + d / near_r)
                        opt[n_opt] = b
                        n_opt += 1
            send[b] = snd
            if snd:
                vr = sfl[k] & FLAG_VR
                used += BODY_SIZE + (POSE_SIZE if vr else 0)
                nbody += 1
                npose += 1 if vr else 0
        for a in range(kn):
            if not seen[a] and known_ids[s, a] >= 0:
                leave_ids[n_leave] = known_ids[s, a]
                n_leave += 1
                known_ids[s, a] = -1            # a hole, reused by the next entering id
        # optional updates: the best-scoring ones that fit the budget
        for k in range(n_opt):
            opt_score[k] = score[opt[k]]
        fit = max(budget - used, 0) // BODY_SIZE
        if n_opt > fit:
            select_top(opt, opt_score, n_opt, fit)
            n_opt = fit
        for k in range(n_opt):
            b = opt[k]
            vr = sfl[cand_rows[b]] & FLAG_VR
            cost = BODY_SIZE + (POSE_SIZE if vr else 0)
            if used + cost <= budget:
                send[b] = True
                used += cost
                nbody += 1
                npose += 1 if vr else 0
        # write the frame: WebSocket header, msgpack header, own record, sent records, poses
        hdr = 30 if acks[s] < 0 else 34
        length = hdr + nbody * BODY_SIZE + (7 + npose * POSE_SIZE if npose > 0 else 0)
        wsh = 2 if length < 126 else (4 if length < 65536 else 10)   # RFC 6455: shortest form
        begin = pos + (-(pos + wsh + hdr)) % 4   # records land 4-byte aligned for word stores
        ws_start[i] = begin
        out[begin] = 0x82                       # FIN + binary; server frames are not masked
        if wsh == 2:
            out[begin + 1] = length
        elif wsh == 4:
            out[begin + 1] = 126
            out[begin + 2] = (length >> 8) & 0xFF
            out[begin + 3] = length & 0xFF
        else:
            out[begin + 1] = 127
            for k in range(8):
                out[begin + 2 + k] = (length >> (8 * (7 - k))) & 0xFF
        start[i] = begin + wsh
        pos = write_header(out, begin + wsh, tick, acks[s], nbody, npose)
        if qstamp[ko] != stamp:
            qstamp[ko] = stamp
            w0, w1 = quantise(x[o], y[o], z[o], yaw[o], flags[o])
            qall[ko, 0] = w0
            qall[ko, 1] = w1
        # body records (records.BODY_DTYPE) as four aligned little-endian words each; what
        # is sent is remembered in place (known positions are stable, entered ids take the
        # first holes, in candidate order)
        w = pos >> 2
        out32[w] = ids[o]
        out32[w + 1] = qall[ko, 0] & 0xFFFFFFFF
        out32[w + 2] = (qall[ko, 0] >> 32) & 0xFFFFFFFF
        out32[w + 3] = qall[ko, 1] & 0xFFFFFFFF
        w += 4
        free = 0
        for b in range(m):
            if send[b]:
                k = cand_rows[b]
                eid = sid[k]
                q0 = qall[k, 0]
                q1 = qall[k, 1]
                out32[w] = eid & 0xFFFFFFFF
                out32[w + 1] = q0 & 0xFFFFFFFF
                out32[w + 2] = (q0 >> 32) & 0xFFFFFFFF
                out32[w + 3] = q1 & 0xFFFFFFFF
                w += 4
                a = prev[b]
                if a < 0:
                    while free < kn and known_ids[s, free] >= 0:
                        free += 1
                    if free == kn:
                        kn += 1
                    known_ids[s, free] = eid
                    a = free
                sent_q[s, a, 0] = q0
                sent_q[s, a, 1] = q1
                sent_tick[s, a] = tick
        pos = w << 2
        while kn > 0 and known_ids[s, kn - 1] < 0:
            kn -= 1
        known_n[s] = kn
        if npose > 0:
            pos = put_key(out, pos, (112,))                  # "p"
            out[pos] = 0xC6
            put_u32be(out, pos + 1, npose * POSE_SIZE)
            pos += 5
            for b in range(m):
                j = cell_rows[cand_rows[b]]
                if send[b] and flags[j] & FLAG_VR:
                    out[pos:pos + POSE_SIZE] = pose[j]
                    pos += POSE_SIZE
        end[i] = pos
        enter_off[i + 1] = n_enter
        leave_off[i + 1] = n_leave
    return pos, n_enter, n_leave


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def in_cell_order(obs_rows, kof):
    """Reorder observer rows in place by their cell-order index."""
    m_obs = obs_rows.shape[0]
    okey = np.empty(m_obs, np.int64)
    for i in range(m_obs):
        okey[i] = kof[obs_rows[i]]
    order = np.argsort(okey)
    ordered = obs_rows[order]
    for i in range(m_obs):
        obs_rows[i] = ordered[i]


@njit(cache=True, nogil=True, error_model="numpy")
def interest_pass(obs_rows, slot_of, ids, x, y, z, yaw, flags, pose, pose_tick, n,
                  cell_start, cell_rows, ox, oy, cell, nx, ny,
                  r_enter, r_leave, near_r, cap, budget, max_interval, tick, grid_slack,
                  known_ids, known_n, sent_q, sent_tick, acks,
                  out, ws_start, start, end, enter_ids, enter_off, leave_ids, leave_off,
                  qall, qstamp, stamp, sx, sy, cand_rows, cand_d2, sid, kof, sfl, spt):
    """Interest, change tracking, budget and snapshot encoding for every observer row.

    Observers are served in cell order (obs_rows is reordered in place to match the frames),
    and every per-entity read goes through cell-ordered copies, so neighbouring observers
    reuse the same memory. Observer i's msgpack frame is out[start[i]:end[i]];
    out[ws_start[i]:end[i]] is the same frame with its WebSocket header (binary, unmasked,
    as a server sends it) in front. Records are written as native words: the host must be
    little-endian (checked in pipeline). qall/qstamp/sx/sy/sid/kof/cand_* are caller-owned
    scratch of at least n rows, reused across ticks (fresh pages are slow); `stamp` must
    differ between calls. Returns the end of the last frame.
    """
    for k in range(n):
        j = cell_rows[k]
        sx[k] = x[j]
        sy[k] = y[j]
        sid[k] = ids[j]
        sfl[k] = flags[j]
        spt[k] = pose_tick[j]
        kof[j] = k
    in_cell_order(obs_rows, kof)
    enter_off[0] = 0
    leave_off[0] = 0
    return serve(0, obs_rows.shape[0], 0, 0, 0, obs_rows, kof, slot_of, ids, x, y, z, yaw, flags, pose, pose_tick,
                 cell_start, cell_rows, ox, oy, cell, nx, ny,
                 r_enter, r_leave, near_r, cap, budget, max_interval, tick, grid_slack,
                 known_ids, known_n, sent_q, sent_tick, acks,
                 out, ws_start, start, end, enter_ids, enter_off, leave_ids, leave_off,
                 qall, qstamp, stamp, sx, sy, sid, sfl, spt, cand_rows, cand_d2)[0]


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def interest_pass_parallel(chunks, obs_rows, slot_of, ids, x, y, z, yaw, flags, pose, pose_tick, n,
                           cell_start, cell_rows, ox, oy, cell, nx, ny,
                           r_enter, r_leave, near_r, cap, budget, max_interval, tick, grid_slack,
                           known_ids, known_n, sent_q, sent_tick, acks,
                           out, ws_start, start, end, enter_ids, enter_off, leave_ids, leave_off,
                           qall_c, qstamp_c, stamp, sx, sy, cand_rows_c, cand_d2_c, sid, kof, sfl, spt):
    """interest_pass with the observers split into `chunks` runs (in cell order) served in
    parallel: the same frames, byte for byte, and the same events and state.

    Chunk c serves observers [c * m // chunks, (c + 1) * m // chunks) with its own scratch
    (qall_c[c], qstamp_c[c], cand_rows_c[c], cand_d2_c[c]; a quantised record may then be
    computed by two chunks, to the same value) and writes frames into its own region of
    `out` (so frames are not back to back: use ws_start / start / end). Its entered and left
    ids are written into their own regions too, then moved down to make the CSR lists.
    """
    for k in prange(n):
        j = cell_rows[k]
        sx[k] = x[j]
        sy[k] = y[j]
        sid[k] = ids[j]
        sfl[k] = flags[j]
        spt[k] = pose_tick[j]
        kof[j] = k
    in_cell_order(obs_rows, kof)
    m_obs = obs_rows.shape[0]
    ev_max = known_ids.shape[1]             # most enter (or leave) ids one observer produces
    frame_max = out.shape[0] // max(m_obs, 1)
    enter_off[0] = 0
    leave_off[0] = 0
    res = np.zeros((chunks, 3), np.int64)
    for c in prange(chunks):
        lo = c * m_obs // chunks
        hi = (c + 1) * m_obs // chunks
        p, e, l = serve(lo, hi, lo * frame_max, lo * ev_max, lo * ev_max,
                        obs_rows, kof, slot_of, ids, x, y, z, yaw, flags, pose, pose_tick,
                        cell_start, cell_rows, ox, oy, cell, nx, ny,
                        r_enter, r_leave, near_r, cap, budget, max_interval, tick, grid_slack,
                        known_ids, known_n, sent_q, sent_tick, acks,
                        out, ws_start, start, end, enter_ids, enter_off, leave_ids, leave_off,
                        qall_c[c], qstamp_c[c], stamp, sx, sy, sid, sfl, spt, cand_rows_c[c], cand_d2_c[c])
        res[c, 0] = p
        res[c, 1] = e
        res[c, 2] = l
    # stitch the event lists: chunk c's ids follow chunk c - 1's
    ne = 0
    nl = 0
    for c in range(chunks):
        lo = c * m_obs // chunks
        hi = (c + 1) * m_obs // chunks
        base = lo * ev_max
        for k in range(res[c, 1] - base):
            enter_ids[ne + k] = enter_ids[base + k]
        for k in range(res[c, 2] - base):
            leave_ids[nl + k] = leave_ids[base + k]
        for i in range(lo + 1, hi + 1):
            enter_off[i] -= base - ne
            leave_off[i] -= base - nl
        ne += res[c, 1] - base
        nl += res[c, 2] - base
    return res[chunks - 1, 0]
