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

    /// An event that starts below the alert level and climbs past it says so at once, in an update: before, the
    /// climb (0.66 → 0.77, under the 0.15 an update needs) first showed `needs_human` on the event's end.
    @Test func crossingTheAlertLevelIsAnUpdateAtOnce() {
        var t = EventTracker(kind: .frustration, on: 0.6, off: 0.4, minimumOn: 0.3, hold: 1.0, cooldown: 5.0, updateInterval: 3.0)
        t.alertLevel = 0.7
        for i in 1...2 { #expect(t.step(t: Double(i) / 10, score: 0.66, dt: 0.1) == nil) }
        #expect(t.step(t: 0.3, score: 0.66, dt: 0.1) == .start(at: 0.0))
        #expect(!t.needsHuman)
        #expect(t.step(t: 0.4, score: 0.72, dt: 0.1) == .update, "the crossing waits for nothing")
        #expect(t.needsHuman)
        // Once said, a further rise waits for the interval and the usual step again.
        #expect(t.step(t: 0.5, score: 0.77, dt: 0.1) == nil)
        var plain = tracker()
        for i in 1...3 { _ = plain.step(t: Double(i) / 10, score: 0.8, dt: 0.1) }
        #expect(!plain.needsHuman, "a tracker without an alert level never asks for a person")
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
