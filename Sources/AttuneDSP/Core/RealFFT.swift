import CFFTW3

/// The process's FFT plans, one forward/inverse pair per size. FFTW's planner keeps global state and is not
/// thread-safe, so every plan is made under this lock; executing a finished plan on other arrays is thread-safe.
private let plannerLock = LockedValue<[Int: PlanPair]>([:])

/// One size's plans, kept for the life of the process.
///
/// `@unchecked Sendable`: FFTW plans are immutable once made, and the new-array execute functions may run them
/// from any number of threads at once.
private struct PlanPair: @unchecked Sendable {
    var forward: fftwf_plan
    var inverse: fftwf_plan
}

/// A forward (real → half-complex) and inverse FFT of one size, with its own aligned buffers.
///
/// The plans are shared by every transform of the same size in the process: each channel used to make its own
/// pair, identical to every other channel's, and a worker visiting a thousand channels in turn found each
/// channel's plans evicted from cache. They are made once, on first use of a size, with `FFTW_ESTIMATE`, which
/// plans identically on every run so offline and live analyses agree to the bit, and run on this transform's
/// buffers through FFTW's new-array execute functions (the buffers come from `fftwf_alloc_*`, so they have the
/// alignment the plans were made for). ``forward()`` and ``inverse()`` never allocate and may run on a
/// real-time thread.
public final class RealFFT {
    /// Transform length (real samples).
    public let size: Int
    /// Real input of the forward transform and output of the inverse, `size` samples.
    public let real: UnsafeMutableBufferPointer<Float>
    /// Complex spectrum, `size / 2 + 1` bins, interleaved (re, im).
    public let spectrum: UnsafeMutableBufferPointer<Float>
    private let complex: UnsafeMutablePointer<fftwf_complex>
    private let forwardPlan: fftwf_plan
    private let inversePlan: fftwf_plan

    /// Sets up transforms of `size` points (a power of two is fastest), planning the size if it is new.
    public init(size: Int) {
        precondition(size >= 2, "FFT size must be at least 2")
        self.size = size
        let bins = size / 2 + 1
        let realPointer = fftwf_alloc_real(size)!
        let complexPointer = fftwf_alloc_complex(bins)!
        real = UnsafeMutableBufferPointer(start: realPointer, count: size)
        real.initialize(repeating: 0)
        complex = complexPointer
        let spectrumStart = UnsafeMutableRawPointer(complexPointer).bindMemory(to: Float.self, capacity: 2 * bins)
        spectrum = UnsafeMutableBufferPointer(start: spectrumStart, count: 2 * bins)
        spectrum.initialize(repeating: 0)
        let plans = plannerLock.withLock { made in
            if let plans = made[size] { return plans }
            // Planned on this transform's buffers; FFTW_ESTIMATE does not touch them, and later transforms only
            // need buffers of the same alignment, which fftwf_alloc_* always gives.
            let flags = UInt32(FFTW_ESTIMATE) | UInt32(FFTW_DESTROY_INPUT)
            let plans = PlanPair(forward: fftwf_plan_dft_r2c_1d(Int32(size), realPointer, complexPointer, flags)!,
                                 inverse: fftwf_plan_dft_c2r_1d(Int32(size), complexPointer, realPointer, flags)!)
            made[size] = plans
            return plans
        }
        forwardPlan = plans.forward
        inversePlan = plans.inverse
    }

    deinit {
        fftwf_free(real.baseAddress)
        fftwf_free(complex)
    }

    /// Transforms `real` into `spectrum`. `real` is overwritten (FFTW_DESTROY_INPUT lets FFTW use it as scratch).
    @inline(__always)
    public func forward() { fftwf_execute_dft_r2c(forwardPlan, real.baseAddress, complex) }

    /// Transforms `spectrum` back into `real`, unnormalised (scaled by `size`). `spectrum` is overwritten.
    @inline(__always)
    public func inverse() { fftwf_execute_dft_c2r(inversePlan, complex, real.baseAddress) }
}
