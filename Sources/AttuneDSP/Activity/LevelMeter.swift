import Foundation

/// PLACEHOLDER — broadband level of a frame; band level not yet computed.
public final class LevelMeter {
    /// Samples of the window ``measure(_:)`` wants, centred on the frame.
    public let windowLength: Int

    public init(settings: AnalysisSettings) {
        windowLength = Int((0.030 * Double(settings.sampleRate)).rounded())
    }

    /// Returns (broadband dBFS, 300–2500 Hz band dBFS) of the window.
    public func measure(_ window: UnsafeBufferPointer<Float>) -> (energyDB: Float, bandEnergyDB: Float) {
        var sum: Float = 0
        for x in window { sum += x * x }
        let meanSquare = sum / Float(window.count)
        let db = meanSquare > 0 ? max(silenceDB, 10 * log10f(2 * meanSquare)) : silenceDB
        return (db, db)
    }
}
