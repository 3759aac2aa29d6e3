// HBV member step over a whole sequence, forward and reverse, for CPU tensors (float32 and float64).
//
// The same arithmetic as `member_step` / `member_step_vjp` in hbv_core.py (hbv-dmg.md section 2.3),
// operation for operation and in the same order, so results agree with the torch path to rounding.
// Each (basin, member) column is independent; a call handles basins [b0, b1) so callers can split
// basins across threads. Layouts (C order): forcing [T, B, 3] (P mm/d, T degC, PET mm/d); a static
// parameter [B, M], a dynamic one [T, B, M]; stores [5, B, M] (mm); basin means [T, 17, B] in the
// SERIES order of hbv_fused.py (5 stores, Q0 Q1 Q2 ET, 8 diagnostic fluxes); their adjoints
// [T, g_rows, B], of which the first 9 rows (the stores and Q0 Q1 Q2 ET) are read.
// Columns are processed in SIMD vectors (GCC vector extensions, 32 bytes: 8 float or 4 double lanes;
// on x86-64 an AVX2 clone is chosen at load time when the CPU has it). Lanes run over the flattened
// (basin, member) columns of a group of basins, so any nmul fills the vectors. Vector arithmetic,
// comparisons and selects are IEEE-exact per lane, so each column follows the scalar order of operations
// (the basin means add members vector-wise, an order that differs from torch's mean by rounding); pow and log are glibc's vector math library where the build found it (DMG_MVEC, x86-64: at most a few
// ulp from the scalar functions), else the C library's, lane by lane.
// Checkpoints: with `ckpt`, the forward pass keeps the stores entering every K-th day ([ceil(T/K), 5, B, M]);
// the reverse pass walks the K-day segments backwards, recomputing each from its checkpoint into buffers of
// K x (5 + 2) values per column (the entering stores and the pow results). Both passes run segment by
// segment and, within a segment, group by group, so buffers and the rows of the [T, ...] tensors in use
// do not grow with T: they stay in cache (and in the TLB), and the cost is linear in T.
//
// Compiled on first use by dmg_bmi.core.native (no torch headers; called through ctypes).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

#if defined(DMG_MVEC)  // glibc's vector math library (x86-64): 4 float or 2 double lanes per call
#include <immintrin.h>
extern "C" {
__m128 _ZGVbN4vv_powf(__m128, __m128);
__m128d _ZGVbN2vv_pow(__m128d, __m128d);
__m128 _ZGVbN4v_logf(__m128);
__m128d _ZGVbN2v_log(__m128d);
}
#endif

#define HBV_INLINE inline __attribute__((always_inline))
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HBV_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define HBV_CLONES
#endif

namespace {

enum Par { BETA, FC, K0, K1, K2, LP, PERC, UZL, TT, CFMAX, CFR, CWH, BETAET, CAP_C, LF, N_PAR };
constexpr int N_STORES = 5;
constexpr int N_FLUX = 12;
constexpr int N_SERIES = N_STORES + N_FLUX;
constexpr int N_DIFF = 9;

struct Flags {
    bool betaet, capillary, exchange;
};

template <typename S>
struct Lanes;
template <>
struct Lanes<float> {
    typedef float V __attribute__((vector_size(32)));
};
template <>
struct Lanes<double> {
    typedef double V __attribute__((vector_size(32)));
};

// A zeroed, 64-byte-aligned array of n vectors (std::vector of over-aligned vector types is unreliable
// across target clones).
template <typename V>
struct Buffer {
    V* p = nullptr;
    explicit Buffer(int64_t n) {
        void* mem = nullptr;
        const size_t bytes = std::max<size_t>(1, static_cast<size_t>(n)) * sizeof(V);
        if (posix_memalign(&mem, 64, bytes) != 0) throw std::bad_alloc();
        std::memset(mem, 0, bytes);
        p = static_cast<V*>(mem);
    }
    ~Buffer() { std::free(p); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    V& operator[](int64_t i) { return p[i]; }
    const V& operator[](int64_t i) const { return p[i]; }
    V* data() { return p; }
    const V* data() const { return p; }
};

template <typename S>
struct Hbv {
    using V = typename Lanes<S>::V;
    static constexpr int W = sizeof(V) / sizeof(S);
    static constexpr int64_t FWD_LANES = 32 * W;  // columns per group in the forward pass
    static constexpr int64_t BWD_LANES = 16 * W;  // and in the reverse pass (buffers of K x 7 per column)

    // Every intermediate the reverse step needs (names as in hbv_core.py).
    struct Trace {
        V SP1, mpot, mrel, MW1, rpot, rrel, SP3, tsr, x, xs, y, w, inp, exr, SM2, z, zs, e0, ETp, smr;
        V SUZ1, SUZ3, qr, SLZ3, SLZ, s0, s, c2, smc, slc, lfr;
    };

    static HBV_INLINE V relu(V x) { const V z{}; return x < z ? z : x; }
    static HBV_INLINE V vmin(V a, V b) { return b < a ? b : a; }
    static HBV_INLINE V vmax(V a, V b) { return a < b ? b : a; }
    // torch.minimum's gradient weight of `a`: 1 where a < b, 1/2 at ties, 0 otherwise.
    static HBV_INLINE V wmin(V a, V b) {
        const V z{};
        return a < b ? z + S(1) : (a == b ? z + S(0.5) : z);
    }
#if defined(DMG_MVEC)
    static HBV_INLINE __m128 mpow(__m128 x, __m128 y, float) { return _ZGVbN4vv_powf(x, y); }
    static HBV_INLINE __m128d mpow(__m128d x, __m128d y, double) { return _ZGVbN2vv_pow(x, y); }
    static HBV_INLINE __m128 mlog(__m128 x, float) { return _ZGVbN4v_logf(x); }
    static HBV_INLINE __m128d mlog(__m128d x, double) { return _ZGVbN2v_log(x); }
    using H = typename std::conditional<std::is_same<S, float>::value, __m128, __m128d>::type;
    static constexpr int NH = sizeof(V) / sizeof(H);
    static HBV_INLINE V vpow(V x, V y) {
        H hx[NH], hy[NH], hr[NH];
        std::memcpy(hx, &x, sizeof(V));
        std::memcpy(hy, &y, sizeof(V));
        for (int i = 0; i < NH; ++i) hr[i] = mpow(hx[i], hy[i], S());
        V r;
        std::memcpy(&r, hr, sizeof(V));
        return r;
    }
    static HBV_INLINE V vlog(V x) {
        H hx[NH], hr[NH];
        std::memcpy(hx, &x, sizeof(V));
        for (int i = 0; i < NH; ++i) hr[i] = mlog(hx[i], S());
        V r;
        std::memcpy(&r, hr, sizeof(V));
        return r;
    }
#else
    static HBV_INLINE V vpow(V x, V y) {
        V r;
        for (int i = 0; i < W; ++i) r[i] = std::pow(x[i], y[i]);
        return r;
    }
    static HBV_INLINE V vlog(V x) {
        V r;
        for (int i = 0; i < W; ++i) r[i] = std::log(x[i]);
        return r;
    }
#endif

    // One day of W columns: `st` in, new stores out; `flux` gets the 12 fluxes. `y_in`/`e0_in` (may be
    // null): the day's pow results from an earlier pass, so the reverse pass does not recompute them.
    static HBV_INLINE void step(V st[N_STORES], V P, V T, V PET, const V* p, Flags f, V flux[N_FLUX],
                                Trace& tr, const V* y_in, const V* e0_in) {
        const V Z{};
        const V ONE = Z + S(1), EPS = Z + S(1e-5), TINY = Z + S(1e-12);
        const V SP = st[0], MW = st[1], SM = st[2], SUZ = st[3], SLZ = st[4];
        const V TTv = p[TT], CF = p[CFMAX], FCv = p[FC];
        // 1-4 snow: rain/snow split, melt, refreeze, release to soil
        const V rain = T >= TTv ? P : Z;
        tr.SP1 = SP + (P - rain);
        tr.mpot = CF * (T - TTv);
        tr.mrel = relu(tr.mpot);
        const V melt = vmin(tr.mrel, tr.SP1);
        tr.MW1 = MW + melt;
        const V SP2 = tr.SP1 - melt;
        tr.rpot = p[CFR] * CF * (TTv - T);
        tr.rrel = relu(tr.rpot);
        const V refr = vmin(tr.rrel, tr.MW1);
        tr.SP3 = SP2 + refr;
        const V MW2 = tr.MW1 - refr;
        tr.tsr = MW2 - p[CWH] * tr.SP3;
        const V ts = relu(tr.tsr);
        const V MW3 = MW2 - ts;
        // 5-6 soil recharge and excess
        tr.x = SM / FCv;
        tr.xs = vmax(tr.x, TINY);
        tr.y = y_in ? *y_in : vpow(tr.xs, p[BETA]);
        tr.w = vmin(vmax(tr.y, Z), ONE);
        tr.inp = rain + ts;
        const V rech = tr.inp * tr.w;
        const V SM1 = SM + tr.inp - rech;
        tr.exr = SM1 - FCv;
        const V ex = relu(tr.exr);
        tr.SM2 = SM1 - ex;
        // 7 evapotranspiration
        tr.z = tr.SM2 / (p[LP] * FCv);
        tr.zs = vmax(tr.z, TINY);
        tr.e0 = f.betaet ? (e0_in ? *e0_in : vpow(tr.zs, p[BETAET])) : tr.z;
        const V ef = vmin(vmax(tr.e0, Z), ONE);
        tr.ETp = PET * ef;
        const V ET = vmin(tr.SM2, tr.ETp);
        tr.smr = tr.SM2 - ET;
        const V SM3 = vmax(tr.smr, EPS);
        V gain = SM3 - tr.smr;
        // 8 capillary rise
        V cap, SM4, SLZ1;
        tr.SLZ = SLZ;
        if (f.capillary) {
            tr.s0 = SM3 / FCv;
            tr.s = vmin(tr.s0, ONE);
            tr.c2 = p[CAP_C] * SLZ * (ONE - tr.s);
            cap = vmin(SLZ, tr.c2);
            tr.smc = SM3 + cap;
            SM4 = vmax(tr.smc, EPS);
            tr.slc = SLZ - cap;
            SLZ1 = vmax(tr.slc, EPS);
            gain = gain + (SM4 - tr.smc) + (SLZ1 - tr.slc);
        } else {
            cap = Z * SLZ;
            SM4 = SM3;
            SLZ1 = SLZ;
        }
        // 9 upper zone
        tr.SUZ1 = SUZ + rech + ex;
        const V perc = vmin(tr.SUZ1, p[PERC]);
        const V SUZ2 = tr.SUZ1 - perc;
        tr.qr = SUZ2 - p[UZL];
        const V Q0 = p[K0] * relu(tr.qr);
        tr.SUZ3 = SUZ2 - Q0;
        const V Q1 = p[K1] * tr.SUZ3;
        const V SUZ4 = tr.SUZ3 - Q1;
        // 10 lower zone (+ HBV 2.0 exchange)
        const V SLZ2 = SLZ1 + perc;
        V exch;
        if (f.exchange) {
            tr.lfr = SLZ2 + p[LF];
            tr.SLZ3 = vmax(tr.lfr, EPS);
            exch = tr.SLZ3 - SLZ2;
        } else {
            tr.SLZ3 = SLZ2;
            exch = Z * SLZ;
        }
        const V Q2 = p[K2] * tr.SLZ3;
        const V SLZ4 = tr.SLZ3 - Q2;
        st[0] = tr.SP3; st[1] = MW3; st[2] = SM4; st[3] = SUZ4; st[4] = SLZ4;
        flux[0] = Q0; flux[1] = Q1; flux[2] = Q2; flux[3] = ET; flux[4] = rech; flux[5] = ex; flux[6] = ts;
        flux[7] = perc; flux[8] = ef; flux[9] = cap; flux[10] = exch; flux[11] = gain;
    }

    // Reverse of `step` (member_step_vjp in hbv_core.py): `a` holds the adjoints of the new stores on
    // entry and of the old stores on return; g = adjoints of (Q0, Q1, Q2, ET); gp gets the parameter
    // adjoints (entries of parameters the variant lacks are left alone).
    static HBV_INLINE void vjp(const Trace& tr, V T, V PET, const V* p, Flags f, V a[N_STORES],
                               const V g[4], V gp[N_PAR]) {
        const V Z{};
        const V ONE = Z + S(1), EPS = Z + S(1e-5), TINY = Z + S(1e-12);
        const V aSP = a[0], aMW = a[1], aSM = a[2], aSUZ = a[3], aSLZ = a[4];
        const V gQ0 = g[0], gQ1 = g[1], gQ2 = g[2], gET = g[3];
        const V FCv = p[FC], CF = p[CFMAX];
        // 10 lower zone
        gp[K2] = (gQ2 - aSLZ) * tr.SLZ3;
        const V aSLZ3 = aSLZ + (gQ2 - aSLZ) * p[K2];
        V aSLZ2;
        if (f.exchange) {
            aSLZ2 = tr.lfr >= EPS ? aSLZ3 : Z;
            gp[LF] = aSLZ2;
        } else {
            aSLZ2 = aSLZ3;
        }
        const V aSLZ1 = aSLZ2;
        V aperc = aSLZ2;
        // 9 upper zone
        const V aQ1 = gQ1 - aSUZ;
        gp[K1] = aQ1 * tr.SUZ3;
        const V aSUZ3 = aSUZ + aQ1 * p[K1];
        const V aQ0 = gQ0 - aSUZ3;
        gp[K0] = aQ0 * vmax(tr.qr, Z);
        const V dq = tr.qr >= Z ? aQ0 * p[K0] : Z;
        gp[UZL] = -dq;
        V aSUZ1 = aSUZ3 + dq;
        aperc = aperc - aSUZ1;
        const V wp = wmin(tr.SUZ1, p[PERC]);
        aSUZ1 = aSUZ1 + aperc * wp;
        gp[PERC] = aperc * (ONE - wp);
        const V aSUZ0 = aSUZ1;
        V arech = aSUZ1;
        V aex = aSUZ1;
        // 8 capillary rise
        V aSM3, aSLZ0, gFC;
        if (f.capillary) {
            const V SLZ = tr.SLZ, C = p[CAP_C];
            const V a_smc = tr.smc >= EPS ? aSM : Z;
            const V a_slc = tr.slc >= EPS ? aSLZ1 : Z;
            const V acap = a_smc - a_slc;
            const V wc = wmin(SLZ, tr.c2);
            const V ac2 = acap * (ONE - wc);
            const V one_s = ONE - tr.s;
            gp[CAP_C] = ac2 * SLZ * one_s;
            aSLZ0 = a_slc + acap * wc + ac2 * C * one_s;
            const V a_s0 = tr.s0 <= ONE ? -ac2 * C * SLZ : Z;
            aSM3 = a_smc + a_s0 / FCv;
            gFC = -a_s0 * tr.s0 / FCv;
        } else {
            aSM3 = aSM;
            aSLZ0 = aSLZ1;
            gFC = Z;
        }
        // 7 evapotranspiration
        const V a_smr = tr.smr >= EPS ? aSM3 : Z;
        const V aET = gET - a_smr;
        const V we = wmin(tr.SM2, tr.ETp);
        V aSM2 = a_smr + aET * we;
        const V aef = aET * (ONE - we) * PET;
        const V a_e0 = tr.e0 <= ONE ? aef : Z;
        V az;
        if (f.betaet) {
            gp[BETAET] = a_e0 * tr.e0 * vlog(tr.zs);
            az = tr.z >= TINY ? a_e0 * p[BETAET] * tr.e0 / tr.zs : Z;
        } else {
            az = a_e0;
        }
        const V LPv = p[LP];
        aSM2 = aSM2 + az / (LPv * FCv);
        const V azz = az * tr.z;
        gp[LP] = -azz / LPv;
        gFC = gFC - azz / FCv;
        // 5-6 soil recharge and excess
        aex = aex - aSM2;
        const V a_exr = tr.exr >= Z ? aex : Z;
        const V aSM1 = aSM2 + a_exr;
        gFC = gFC - a_exr;
        arech = arech - aSM1;
        const V ainp = aSM1 + arech * tr.w;
        const V aw = arech * tr.inp;
        const V a_y = tr.y <= ONE ? aw : Z;
        gp[BETA] = a_y * tr.y * vlog(tr.xs);
        const V ax = tr.x >= TINY ? a_y * p[BETA] * tr.y / tr.xs : Z;
        const V aSM0 = aSM1 + ax / FCv;
        gp[FC] = gFC - ax * tr.x / FCv;
        // 4 release to soil
        const V ats = ainp - aMW;
        const V a_tsr = tr.tsr >= Z ? ats : Z;
        const V aMW2 = aMW + a_tsr;
        gp[CWH] = -a_tsr * tr.SP3;
        const V aSP3 = aSP - a_tsr * p[CWH];
        // 3 refreeze
        const V ar = aSP3 - aMW2;
        const V wr = wmin(tr.rrel, tr.MW1);
        const V aMW1 = aMW2 + ar * (ONE - wr);
        const V a_rp = tr.rpot >= Z ? ar * wr : Z;
        const V TTv = p[TT], CFRv = p[CFR];
        const V dTT = TTv - T;
        gp[CFR] = a_rp * CF * dTT;
        const V gCF = a_rp * CFRv * dTT;
        const V gTT = a_rp * CFRv * CF;
        // 2 melt
        const V am = aMW1 - aSP3;
        const V wm = wmin(tr.mrel, tr.SP1);
        const V aSP1 = aSP3 + am * (ONE - wm);
        const V a_mp = tr.mpot >= Z ? am * wm : Z;
        gp[CFMAX] = gCF + a_mp * (T - TTv);
        gp[TT] = gTT - a_mp * CF;
        a[0] = aSP1; a[1] = aMW1; a[2] = aSM0; a[3] = aSUZ0; a[4] = aSLZ0;
    }

    // ---- moving columns between the tensors and the lane buffers ----------------------------------
    // L contiguous values into NV vectors; the padding lanes repeat the last value (finite arithmetic).
    static HBV_INLINE void load(V* dst, const S* src, int64_t L, int64_t NV) {
        S* d = reinterpret_cast<S*>(dst);
        std::memcpy(d, src, L * sizeof(S));
        for (int64_t l = L; l < NV * W; ++l) d[l] = d[L - 1];
    }

    static HBV_INLINE void store(S* dst, const V* src, int64_t L) {
        std::memcpy(dst, reinterpret_cast<const S*>(src), L * sizeof(S));
    }

    // A basin value per column: value(basin i of the group) repeated over its M members; padding repeats.
    template <typename F>
    static HBV_INLINE void spread(V* dst, int64_t nb, int64_t M, int64_t NV, F value) {
        if (M % W == 0) {  // each basin fills whole vectors
            const int64_t per = M / W;
            for (int64_t i = 0; i < nb; ++i) {
                const V x = V{} + value(i);
                for (int64_t j = 0; j < per; ++j) dst[i * per + j] = x;
            }
            return;
        }
        S* d = reinterpret_cast<S*>(dst);
        for (int64_t i = 0; i < nb; ++i) {
            const S x = value(i);
            for (int64_t m = 0; m < M; ++m) d[i * M + m] = x;
        }
        for (int64_t l = nb * M; l < NV * W; ++l) d[l] = d[nb * M - 1];
    }

    // Basin means of one series (`series`: NV vectors of the group's columns) into out[i * stride].
    static HBV_INLINE void mean_members(const V* series, int64_t nb, int64_t M, S* out, int64_t stride) {
        if (M % W == 0) {  // each basin's members fill whole vectors: add them, then the lanes
            const int64_t per = M / W;
            for (int64_t i = 0; i < nb; ++i) {
                V acc = series[i * per];
                for (int64_t j = 1; j < per; ++j) acc = acc + series[i * per + j];
                S sum = acc[0];
                for (int l = 1; l < W; ++l) sum += acc[l];
                out[i * stride] = sum / S(M);
            }
            return;
        }
        const S* o = reinterpret_cast<const S*>(series);
        for (int64_t i = 0; i < nb; ++i) {
            S sum = S(0);
            for (int64_t m = 0; m < M; ++m) sum += o[i * M + m];
            out[i * stride] = sum / S(M);
        }
    }

    struct Group {  // the parameter and forcing lanes of one group of basins on one day
        Buffer<V> par, P, T, PET;
        explicit Group(int64_t NV) : par(N_PAR * NV), P(NV), T(NV), PET(NV) {}

        // Static parameters once per group; absent parameters are zeros.
        HBV_INLINE void load_static(const S* const* src, const int* dyn, int64_t M, int64_t g0, int64_t L,
                                    int64_t NV) {
            for (int k = 0; k < N_PAR; ++k) {
                if (!src[k]) std::fill(&par[k * NV], &par[k * NV] + NV, V{});
                else if (!dyn[k]) load(&par[k * NV], src[k] + g0 * M, L, NV);
            }
        }

        HBV_INLINE void load_day(const S* const* src, const int* dyn, const S* forcing, int64_t t, int64_t B,
                                 int64_t M, int64_t g0, int64_t nb, int64_t NV) {
            const int64_t L = nb * M;
            for (int k = 0; k < N_PAR; ++k)
                if (src[k] && dyn[k]) load(&par[k * NV], src[k] + (t * B + g0) * M, L, NV);
            const S* fc = forcing + (t * B + g0) * 3;
            spread(P.data(), nb, M, NV, [&](int64_t i) { return fc[3 * i]; });
            spread(T.data(), nb, M, NV, [&](int64_t i) { return fc[3 * i + 1]; });
            spread(PET.data(), nb, M, NV, [&](int64_t i) { return fc[3 * i + 2]; });
        }

        HBV_INLINE void at(int64_t v, int64_t NV, V p[N_PAR]) const {
            for (int k = 0; k < N_PAR; ++k) p[k] = par[k * NV + v];
        }
    };

    // Days run in segments of K, and within a segment group by group, so one group's run touches K rows of
    // the [T, ...] tensors (few pages) and the next group finds them cached. `final_stores` carries each
    // group's stores from one segment to the next (it must be given).
    static HBV_INLINE void forward(int64_t nT, int64_t B, int64_t M, Flags f, const S* forcing,
                                   const S* const* par, const int* dyn, const S* stores0, S* means,
                                   S* final_stores, S* ckpt, int64_t K, int64_t b0, int64_t b1) {
        const int64_t gb = std::max<int64_t>(1, FWD_LANES / M);
        const int64_t maxNV = (gb * M + W - 1) / W;
        Buffer<V> st(N_STORES * maxNV), out(N_SERIES * maxNV);
        Group day(maxNV);
        V p[N_PAR], s[N_STORES], flux[N_FLUX];
        Trace tr;
        for (int k = 0; k < N_STORES; ++k)
            std::memcpy(final_stores + (k * B + b0) * M, stores0 + (k * B + b0) * M, (b1 - b0) * M * sizeof(S));
        for (int64_t t0 = 0; t0 < nT; t0 += K) {
            const int64_t t1 = std::min(t0 + K, nT);
            for (int64_t g0 = b0; g0 < b1; g0 += gb) {
                const int64_t nb = std::min(gb, b1 - g0), L = nb * M, NV = (L + W - 1) / W;
                for (int k = 0; k < N_STORES; ++k) load(&st[k * NV], final_stores + (k * B + g0) * M, L, NV);
                if (ckpt)
                    for (int k = 0; k < N_STORES; ++k)
                        store(ckpt + ((t0 / K) * N_STORES + k) * B * M + g0 * M, &st[k * NV], L);
                day.load_static(par, dyn, M, g0, L, NV);
                for (int64_t t = t0; t < t1; ++t) {
                    day.load_day(par, dyn, forcing, t, B, M, g0, nb, NV);
                    for (int64_t v = 0; v < NV; ++v) {
                        day.at(v, NV, p);
                        for (int k = 0; k < N_STORES; ++k) s[k] = st[k * NV + v];
                        step(s, day.P[v], day.T[v], day.PET[v], p, f, flux, tr, nullptr, nullptr);
                        for (int k = 0; k < N_STORES; ++k) st[k * NV + v] = out[k * NV + v] = s[k];
                        for (int k = 0; k < N_FLUX; ++k) out[(N_STORES + k) * NV + v] = flux[k];
                    }
                    for (int k = 0; k < N_SERIES; ++k)
                        mean_members(&out[k * NV], nb, M, means + (t * N_SERIES + k) * B + g0, 1);
                }
                for (int k = 0; k < N_STORES; ++k) store(final_stores + (k * B + g0) * M, &st[k * NV], L);
            }
        }
    }

    // Segments in reverse, and within a segment group by group (see `forward`). `g_stores0` carries each
    // group's store adjoints from one segment to the next, and the static parameter adjoints add up in
    // `g_par` day by day in reverse order.
    static HBV_INLINE void backward(int64_t nT, int64_t B, int64_t M, Flags f, const S* forcing,
                                    const S* const* par, const int* dyn, const S* ckpt, int64_t K,
                                    const S* g_means, int64_t g_rows, const S* g_final, S* g_stores0,
                                    S* const* g_par, int64_t b0, int64_t b1) {
        const int64_t gb = std::max<int64_t>(1, BWD_LANES / M);
        const int64_t maxNV = (gb * M + W - 1) / W;
        Buffer<V> entering(K * N_STORES * maxNV), ys(K * maxNV), e0s(f.betaet ? K * maxNV : 0);
        Buffer<V> adj(N_STORES * maxNV), acc(N_PAR * maxNV), gdyn(N_PAR * maxNV), gm(N_DIFF * maxNV);
        Group day(maxNV);
        V p[N_PAR], s[N_STORES], flux[N_FLUX], a[N_STORES], g[4], gp[N_PAR];
        Trace tr;
        for (int k = 0; k < N_STORES; ++k) {
            S* dst = g_stores0 + (k * B + b0) * M;
            if (g_final) std::memcpy(dst, g_final + (k * B + b0) * M, (b1 - b0) * M * sizeof(S));
            else std::fill(dst, dst + (b1 - b0) * M, S(0));
        }
        for (int k = 0; k < N_PAR; ++k)
            if (g_par[k] && !dyn[k]) std::fill(g_par[k] + b0 * M, g_par[k] + b1 * M, S(0));
        for (int64_t t0 = ((nT - 1) / K) * K; t0 >= 0; t0 -= K) {
            const int64_t t1 = std::min(t0 + K, nT);
            for (int64_t g0 = b0; g0 < b1; g0 += gb) {
                const int64_t nb = std::min(gb, b1 - g0), L = nb * M, NV = (L + W - 1) / W;
                auto ent = [&](int64_t d, int k) -> V* { return &entering[(d * N_STORES + k) * NV]; };
                day.load_static(par, dyn, M, g0, L, NV);
                // the segment's days again from its checkpoint, keeping each day's entering stores and
                // pow results
                const S* c = ckpt + (t0 / K) * N_STORES * B * M;
                for (int k = 0; k < N_STORES; ++k) load(ent(0, k), c + (k * B + g0) * M, L, NV);
                for (int64_t t = t0; t < t1; ++t) {
                    const int64_t d = t - t0;
                    day.load_day(par, dyn, forcing, t, B, M, g0, nb, NV);
                    for (int64_t v = 0; v < NV; ++v) {
                        day.at(v, NV, p);
                        for (int k = 0; k < N_STORES; ++k) s[k] = ent(d, k)[v];
                        step(s, day.P[v], day.T[v], day.PET[v], p, f, flux, tr, nullptr, nullptr);
                        ys[d * NV + v] = tr.y;
                        if (f.betaet) e0s[d * NV + v] = tr.e0;
                        if (t + 1 < t1)
                            for (int k = 0; k < N_STORES; ++k) ent(d + 1, k)[v] = s[k];
                    }
                }
                // reverse over the segment
                for (int k = 0; k < N_STORES; ++k) load(&adj[k * NV], g_stores0 + (k * B + g0) * M, L, NV);
                for (int k = 0; k < N_PAR; ++k)
                    if (g_par[k] && !dyn[k]) load(&acc[k * NV], g_par[k] + g0 * M, L, NV);
                    else std::fill(&acc[k * NV], &acc[k * NV] + NV, V{});
                std::fill(gm.data(), gm.data() + N_DIFF * NV, V{});
                for (int64_t t = t1 - 1; t >= t0; --t) {
                    const int64_t d = t - t0;
                    day.load_day(par, dyn, forcing, t, B, M, g0, nb, NV);
                    if (g_means)
                        for (int k = 0; k < N_DIFF; ++k) {
                            const S* row = g_means + (t * g_rows + k) * B + g0;
                            spread(&gm[k * NV], nb, M, NV, [&](int64_t i) { return row[i] / S(M); });
                        }
                    for (int64_t v = 0; v < NV; ++v) {
                        day.at(v, NV, p);
                        for (int k = 0; k < N_STORES; ++k) s[k] = ent(d, k)[v];
                        step(s, day.P[v], day.T[v], day.PET[v], p, f, flux, tr, &ys[d * NV + v],
                             f.betaet ? &e0s[d * NV + v] : nullptr);
                        for (int k = 0; k < N_STORES; ++k) a[k] = adj[k * NV + v] + gm[k * NV + v];
                        for (int k = 0; k < 4; ++k) g[k] = gm[(N_STORES + k) * NV + v];
                        for (int k = 0; k < N_PAR; ++k) gp[k] = V{};
                        vjp(tr, day.T[v], day.PET[v], p, f, a, g, gp);
                        for (int k = 0; k < N_STORES; ++k) adj[k * NV + v] = a[k];
                        for (int k = 0; k < N_PAR; ++k) {
                            if (dyn[k]) gdyn[k * NV + v] = gp[k];
                            else acc[k * NV + v] = acc[k * NV + v] + gp[k];
                        }
                    }
                    for (int k = 0; k < N_PAR; ++k)
                        if (g_par[k] && dyn[k]) store(g_par[k] + (t * B + g0) * M, &gdyn[k * NV], L);
                }
                for (int k = 0; k < N_STORES; ++k) store(g_stores0 + (k * B + g0) * M, &adj[k * NV], L);
                for (int k = 0; k < N_PAR; ++k)
                    if (g_par[k] && !dyn[k]) store(g_par[k] + g0 * M, &acc[k * NV], L);
            }
        }
    }
};

Flags flags_of(int bits) { return Flags{bool(bits & 1), bool(bits & 2), bool(bits & 4)}; }

}  // namespace

extern "C" {

int hbv_abi_version() { return 4; }

// The entry points, one forward and one backward per scalar type S (names ending in SUFFIX): 0, or 1 where
// the buffers could not be allocated. A macro, not a template, so each is its own target-cloned function.
#define HBV_ENTRY_POINTS(S, SUFFIX)                                                                            \
    HBV_CLONES int hbv_forward_##SUFFIX(int64_t nT, int64_t B, int64_t M, int flags, const S* forcing,        \
                                        const S* const* par, const int* dyn, const S* stores0, S* means,      \
                                        S* final_stores, S* ckpt, int64_t K, int64_t b0, int64_t b1) {        \
        try {                                                                                                  \
            Hbv<S>::forward(nT, B, M, flags_of(flags), forcing, par, dyn, stores0, means, final_stores, ckpt,  \
                            K, b0, b1);                                                                        \
        } catch (const std::bad_alloc&) {                                                                      \
            return 1;                                                                                          \
        }                                                                                                      \
        return 0;                                                                                              \
    }                                                                                                          \
    HBV_CLONES int hbv_backward_##SUFFIX(int64_t nT, int64_t B, int64_t M, int flags, const S* forcing,       \
                                         const S* const* par, const int* dyn, const S* ckpt, int64_t K,       \
                                         const S* g_means, int64_t g_rows, const S* g_final, S* g_stores0,    \
                                         S* const* g_par, int64_t b0, int64_t b1) {                           \
        try {                                                                                                  \
            Hbv<S>::backward(nT, B, M, flags_of(flags), forcing, par, dyn, ckpt, K, g_means, g_rows, g_final,  \
                             g_stores0, g_par, b0, b1);                                                        \
        } catch (const std::bad_alloc&) {                                                                      \
            return 1;                                                                                          \
        }                                                                                                      \
        return 0;                                                                                              \
    }

HBV_ENTRY_POINTS(float, f32)
HBV_ENTRY_POINTS(double, f64)

}  // extern "C"
