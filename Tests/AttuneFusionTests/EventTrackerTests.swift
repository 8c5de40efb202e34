import AttuneEvents
import AttuneFusion
import Testing

@Suite struct EventTrackerTests {
    func tracker() -> EventTracker {
        EventTracker(kind: .frustration, on: 0.7, off: 0.4, minimumOn: 0.3, hold: 1.0, cooldown: 5.0, updateInterval: 1.0)
    }

    @Test func startsOnlyAfterTheMinimumTimeOn() {
        var t = tracker()
        #expect(t.step(t: 0.1, score: 0.8, dt: 0.1) == nil)
        #expect(t.step(t: 0.2, score: 0.8, dt: 0.1) == nil)
        #expect(t.step(t: 0.3, score: 0.8, dt: 0.1) == .start(at: 0.0))
        #expect(t.isActive)
    }

    @Test func aDipBelowOffShorterThanTheHoldDoesNotEnd() {
        var t = tracker()
        for i in 1...5 { _ = t.step(t: Double(i) / 10, score: 0.9, dt: 0.1) }
        #expect(t.isActive)
        // Oscillating between 0.3 and 0.9 every 0.5 s never stays below 0.4 for the 1 s hold.
        var transitions: [EventTracker.Transition] = []
        for i in 6...60 {
            let score = (i / 5) % 2 == 0 ? 0.9 : 0.3
            if let x = t.step(t: Double(i) / 10, score: score, dt: 0.1), x != .update { transitions.append(x) }
        }
        #expect(transitions.isEmpty)
        #expect(t.isActive)
    }

    @Test func endsAtTheStartOfTheQuietStretchThenCoolsDown() {
        var t = tracker()
        for i in 1...5 { _ = t.step(t: Double(i) / 10, score: 0.9, dt: 0.1) }
        var end: EventTracker.Transition?
        for i in 6...20 where end == nil {
            if case .end? = t.step(t: Double(i) / 10, score: 0.1, dt: 0.1) { end = .end(at: 0.6) }
        }
        #expect(end == .end(at: 0.6))
        // Within the cooldown a strong score starts nothing.
        for i in 21...60 { #expect(t.step(t: Double(i) / 10, score: 1.0, dt: 0.1) == nil) }
        // After it, it can start again.
        var restarted = false
        for i in 70...80 { if case .start? = t.step(t: Double(i) / 10, score: 1.0, dt: 0.1) { restarted = true } }
        #expect(restarted)
    }

    @Test func speechOnlyCountingWaitsForSpeech() {
        var t = tracker()
        for i in 1...20 { #expect(t.step(t: Double(i) / 10, score: 0.9, dt: 0.1, counting: false) == nil) }
    }
}
