import CFFTW3
import Synchronization

/// FFTW's planner keeps global state and is not thread-safe; executing a finished plan is.
/// Every plan in the process is made and destroyed under this lock.
private let plannerLock = Mutex(())

/// Carries freshly made plans out of the planner lock; they belong to the caller from then on.
private struct PlanPair: @unchecked Sendable {
    var forward: fftwf_plan
    var inverse: fftwf_plan
}

/// A forward (real → half-complex) and inverse FFT pair of one size, with its own aligned buffers.
///
/// One `final class` per pair of C plans, freed in `deinit`. Plans are made once, in `init`, with
/// `FFTW_ESTIMATE`, which plans identically on every run so offline and live analyses agree to the bit.
/// ``forward()`` and ``inverse()`` never allocate and may run on a real-time thread.
public final class RealFFT {
    /// Transform length (real samples).
    public let size: Int
    /// Real input of the forward transform and output of the inverse, `size` samples.
    public let real: UnsafeMutableBufferPointer<Float>
    /// Complex spectrum, `size / 2 + 1` bins, interleaved (re, im).
    public let spectrum: UnsafeMutableBufferPointer<Float>
    private let forwardPlan: fftwf_plan
    private let inversePlan: fftwf_plan

    /// Makes the plans for transforms of `size` points (a power of two is fastest).
    public init(size: Int) {
        precondition(size >= 2, "FFT size must be at least 2")
        self.size = size
        let bins = size / 2 + 1
        let realPointer = fftwf_alloc_real(size)!
        let complexPointer = fftwf_alloc_complex(bins)!
        real = UnsafeMutableBufferPointer(start: realPointer, count: size)
        real.initialize(repeating: 0)
        let spectrumStart = UnsafeMutableRawPointer(complexPointer).bindMemory(to: Float.self, capacity: 2 * bins)
        spectrum = UnsafeMutableBufferPointer(start: spectrumStart, count: 2 * bins)
        spectrum.initialize(repeating: 0)
        let flags = UInt32(FFTW_ESTIMATE) | UInt32(FFTW_DESTROY_INPUT)
        let plans = plannerLock.withLock { _ in
            PlanPair(forward: fftwf_plan_dft_r2c_1d(Int32(size), realPointer, complexPointer, flags)!,
                     inverse: fftwf_plan_dft_c2r_1d(Int32(size), complexPointer, realPointer, flags)!)
        }
        forwardPlan = plans.forward
        inversePlan = plans.inverse
    }

    deinit {
        plannerLock.withLock { _ in
            fftwf_destroy_plan(forwardPlan)
            fftwf_destroy_plan(inversePlan)
        }
        fftwf_free(real.baseAddress)
        fftwf_free(spectrum.baseAddress)
    }

    /// Transforms `real` into `spectrum`. `real` is overwritten (FFTW_DESTROY_INPUT lets FFTW use it as scratch).
    @inline(__always)
    public func forward() { fftwf_execute(forwardPlan) }

    /// Transforms `spectrum` back into `real`, unnormalised (scaled by `size`). `spectrum` is overwritten.
    @inline(__always)
    public func inverse() { fftwf_execute(inversePlan) }
}
