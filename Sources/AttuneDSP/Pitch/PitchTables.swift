import Foundation

extension PitchTracker {
    /// The tracker's read-only tables for one geometry: the decimation FIR, the Hann window at the search rate and
    /// at the full rate (with the sums of their squares), and the reciprocal of the window's own normalised
    /// autocorrelation.
    ///
    /// They depend on the settings alone, so every channel with the same settings reads one copy. Each frame
    /// reads all of them (2.6 kB at 8 kHz, 5 kB at 16 kHz); with a copy per channel, a worker that visits a
    /// thousand channels in turn found a channel's copy evicted at every visit.
    ///
    /// `@unchecked Sendable`: the buffers are filled in `init`, before the tables are published through the
    /// cache's lock, and are never written or freed afterwards (a process sees a handful of geometries).
    final class Tables: @unchecked Sendable {
        let fir: UnsafeBufferPointer<Float>
        let hann: UnsafeBufferPointer<Float>
        let windowACInverse: UnsafeBufferPointer<Float>
        let hannFull: UnsafeBufferPointer<Float>
        let hannPower: Float
        let hannFullPower: Float

        /// Everything the tables are computed from (see ``PitchTracker/init(settings:)``).
        struct Geometry: Hashable {
            var rate: Int
            var factor: Int
            var firHalf: Int
            var firPadded: Int
            var analysisLength: Int
            var fftLength: Int
            var rLength: Int
        }

        /// Tables made so far, by geometry. Locked only while a tracker is set up, never per frame.
        private static let cache = LockedValue<[Geometry: Tables]>([:])

        /// The tables for `geometry`, made on first use.
        static func shared(_ geometry: Geometry) -> Tables {
            cache.withLock { made in
                if let tables = made[geometry] { return tables }
                let tables = Tables(geometry)
                made[geometry] = tables
                return tables
            }
        }

        private init(_ g: Geometry) {
            let fir = UnsafeMutableBufferPointer<Float>.allocate(g.firPadded, filledWith: 0)
            if g.factor == 1 {
                fir[0] = 1
            } else {
                let cutoff = 1950.0 / Double(g.rate)
                var sum = 0.0
                var taps = [Double](repeating: 0, count: 2 * g.firHalf + 1)
                for i in 0...(2 * g.firHalf) {
                    let m = Double(i - g.firHalf)
                    let sinc = m == 0 ? 2 * cutoff : sin(2 * Double.pi * cutoff * m) / (Double.pi * m)
                    let x = Double(i) / Double(2 * g.firHalf)
                    let hamming = 0.54 - 0.46 * cos(2 * Double.pi * x)
                    taps[i] = sinc * hamming
                    sum += taps[i]
                }
                for i in taps.indices { fir[i] = Float(taps[i] / sum) }
            }
            self.fir = UnsafeBufferPointer(fir)

            let analysisLength = g.analysisLength
            let hann = UnsafeMutableBufferPointer<Float>.allocate((analysisLength + 7) & ~7, filledWith: 0)
            for i in 0..<analysisLength {
                hann[i] = Float(0.5 - 0.5 * cos(2 * Double.pi * (Double(i) + 0.5) / Double(analysisLength)))
            }
            self.hann = UnsafeBufferPointer(hann)
            // The window's own autocorrelation, the same way the signal's will be computed (same size, same
            // FFTW_ESTIMATE plan).
            let fft = RealFFT(size: g.fftLength)
            let windowACInverse = UnsafeMutableBufferPointer<Float>.allocate(capacity: g.rLength)
            for i in 0..<g.fftLength { fft.real[i] = i < analysisLength ? hann[i] : 0 }
            fft.forward()
            PitchTracker.powerSpectrum(fft.spectrum)
            fft.inverse()
            let w0 = fft.real[0]
            for lag in 0..<g.rLength { windowACInverse[lag] = w0 / fft.real[lag] }
            self.windowACInverse = UnsafeBufferPointer(windowACInverse)

            let fullLength = analysisLength * g.factor
            let hannFull = UnsafeMutableBufferPointer<Float>.allocate((fullLength + 7) & ~7, filledWith: 0)
            var fullPower: Float = 0
            for i in 0..<fullLength {
                let w = Float(0.5 - 0.5 * cos(2 * Double.pi * (Double(i) + 0.5) / Double(fullLength)))
                hannFull[i] = w
                fullPower += w * w
            }
            self.hannFull = UnsafeBufferPointer(hannFull)
            hannFullPower = fullPower
            var power: Float = 0
            for i in 0..<analysisLength { power += hann[i] * hann[i] }
            hannPower = power
        }
    }
}
