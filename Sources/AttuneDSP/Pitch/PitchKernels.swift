/// The pitch tracker's vector loops over raw buffers: sum, windowed energy, power spectrum (the decimator's dot
/// products are `attune_decimate` in CAttuneKernels).
extension PitchTracker {
    /// Σ a[i] over `count` samples.
    @inline(__always)
    static func sum(_ a: UnsafePointer<Float>, _ count: Int) -> Float {
        let ar = UnsafeRawPointer(a)
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= count {
            acc += ar.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        var total = acc.sum()
        while i < count { total += a[i]; i += 1 }
        return total
    }

    /// Σ ((x[i] − mean) · window[i])² over `count` (a multiple of 8) samples.
    @inline(__always)
    static func windowedEnergy(_ x: UnsafePointer<Float>, _ window: UnsafePointer<Float>, mean: Float, count: Int) -> Float {
        let xr = UnsafeRawPointer(x), wr = UnsafeRawPointer(window)
        let m = SIMD8<Float>(repeating: mean)
        var acc = SIMD8<Float>()
        var i = 0
        while i < count {
            let v = (xr.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - m) * wr.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc += v * v
            i += 8
        }
        return acc.sum()
    }

    /// Replaces an r2c spectrum by its power (imaginary parts zero), in place.
    @inline(__always)
    static func powerSpectrum(_ s: UnsafeMutableBufferPointer<Float>) {
        var i = 0
        while i < s.count {
            let re = s[i], im = s[i + 1]
            s[i] = re * re + im * im
            s[i + 1] = 0
            i += 2
        }
    }
}
