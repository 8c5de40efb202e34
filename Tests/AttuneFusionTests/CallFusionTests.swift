import AttuneEvents
@testable import AttuneFusion
import AttuneText
import Testing

@Suite struct CallFusionTests {
    static let calm = (f0: 120.0, balance: -10.0)
    /// About 8.8 semitones higher and 6 dB more energy above 1 kHz: an angry voice.
    static let heated = (f0: 200.0, balance: -4.0)

    @Test func frustrationStartsWithinASecondOfTheVoiceRisingAndNeverInTheCalmPart() {
        var call = SyntheticCall(roles: [.customer])
        call.run(seconds: 20, [Self.calm])
        #expect(call.events.isEmpty)
        call.run(seconds: 3, [Self.heated])
        call.finish()
        let starts = call.starts(.frustration)
        #expect(starts.count == 1)
        let s = starts[0]
        #expect(s.start >= 20 && s.start <= 21)
        #expect(s.t - 20 <= 1.0)
        #expect(s.evidence.f0St! > 5)
        #expect(s.evidence.balanceDb! > 4)
        #expect(s.explanation.contains("semitones above their normal"))
        // Every event that starts ends, with the same id.
        let ends = call.events.filter { $0.state == .end }
        #expect(ends.map(\.id) == starts.map(\.id))
    }

    /// A window where noise or a telephone line hid F0 from two thirds of the speech frames: its pitch is the
    /// caller's normal, only its spectral balance is sharper. At a 0.35 voiced-share floor F0 went unread and balance
    /// alone (4.5 dB over a 6 dB scale, past the 0.6 threshold) started frustration; a third voiced is enough to
    /// read F0, and a normal pitch with a sharper balance is not anger.
    @Test func aSharperBalanceAloneDoesNotStartFrustrationWhenTheFewVoicedFramesShowANormalPitch() {
        var call = SyntheticCall(roles: [.customer])
        call.run(seconds: 20, [Self.calm])
        call.run(seconds: 4, [(f0: Self.calm.f0, balance: Self.calm.balance + 4.5)], voicedShare: 0.3)
        call.finish()
        #expect(call.starts(.frustration).isEmpty, "\(call.events.map { ($0.kind, $0.state, $0.evidence) })")
        // The same window with its pitch raised is frustration: F0 is read from the third of frames that have it.
        var raised = SyntheticCall(roles: [.customer])
        raised.run(seconds: 20, [Self.calm])
        raised.run(seconds: 4, [(f0: Self.heated.f0, balance: Self.calm.balance + 4.5)], voicedShare: 0.3)
        raised.finish()
        #expect(raised.starts(.frustration).count == 1)
        #expect(raised.starts(.frustration).first?.evidence.f0St ?? 0 > 5)
    }

    @Test func noEmotionWhileTheBaselineIsLearning() {
        var call = SyntheticCall(roles: [.customer])
        call.run(seconds: 3, [Self.heated])
        call.run(seconds: 1, [Self.calm])
        call.finish()
        #expect(call.starts(.frustration).isEmpty)
    }

    @Test func agentChannelsGetNoEmotionKindsByDefault() {
        var call = SyntheticCall(roles: [.agent])
        call.run(seconds: 20, [Self.calm])
        call.run(seconds: 3, [Self.heated])
        call.finish()
        let kinds = call.events.map(\.kind)
        #expect(kinds.allSatisfy { $0.isConversation })
        #expect(call.starts(.frustration).isEmpty)
    }

    @Test func anOperatorCanEnableAgentEmotions() {
        var options = FusionOptions()
        options.emotionRoles = [.customer, .agent]
        var call = SyntheticCall(roles: [.agent], options: options)
        call.run(seconds: 20, [Self.calm])
        call.run(seconds: 3, [Self.heated])
        #expect(call.starts(.frustration).count == 1)
    }

    @Test func noConsentPublishesNoEvents() {
        var options = FusionOptions()
        options.consent = false
        var call = SyntheticCall(roles: [.agent, .customer], options: options)
        call.run(seconds: 20, [Self.calm, Self.calm])
        call.run(seconds: 10, [nil, nil])
        call.run(seconds: 3, [Self.heated, Self.heated])
        call.finish()
        #expect(call.events.isEmpty)
    }

    @Test func deadAirAndSlowResponseFollowTheSilence() {
        var call = SyntheticCall(roles: [.agent, .customer])
        call.run(seconds: 3, [Self.calm, nil])
        call.run(seconds: 4, [nil, Self.calm])
        // The customer stopped at 7 s; nobody speaks for 7 s.
        call.run(seconds: 7, [nil, nil])
        call.run(seconds: 1, [Self.calm, nil])
        call.finish()
        let slow = call.starts(.slowResponse)
        #expect(slow.count == 1)
        #expect(abs(slow[0].start - 7) < 0.05)
        #expect(abs(slow[0].t - 10) < 0.05)
        #expect(slow[0].channel == 0)
        let dead = call.starts(.deadAir)
        #expect(dead.count == 1)
        #expect(abs(dead[0].t - 13) < 0.05)
        // Both end when the agent speaks at 14 s.
        let ends = call.events.filter { $0.state == .end && $0.kind.isConversation }
        #expect(ends.count == 2)
        #expect(ends.allSatisfy { abs($0.end! - 14) < 0.05 })
    }

    @Test func talkOverIsOnTheChannelThatCutIn() {
        var call = SyntheticCall(roles: [.agent, .customer])
        call.run(seconds: 2, [nil, Self.calm])
        call.run(seconds: 2, [Self.calm, Self.calm])
        call.run(seconds: 2, [nil, Self.calm])
        call.finish()
        let over = call.starts(.talkOver)
        #expect(over.count == 1)
        #expect(over[0].channel == 0)
        #expect(abs(over[0].start - 2) < 0.05)
        // A short overlap (under a second) is not talk-over.
        var short = SyntheticCall(roles: [.agent, .customer])
        short.run(seconds: 2, [nil, Self.calm])
        short.run(seconds: 0.5, [Self.calm, Self.calm])
        short.run(seconds: 2, [nil, Self.calm])
        #expect(short.starts(.talkOver).isEmpty)
    }

    // MARK: Words

    static func say(_ call: inout SyntheticCall, _ text: String, seconds: Double, voice: (f0: Double, balance: Double)) {
        let start = call.now
        call.fusion.add(TranscriptUtterance(channel: 0, start: start, end: start + seconds, text: text))
        call.run(seconds: seconds, [voice])
        call.run(seconds: 0.5, [nil])
    }

    @Test func wordsDriveTheWordKinds() throws {
        let text = try TextAnalyzer.bundled()
        func events(_ text1: String, voice: (f0: Double, balance: Double) = Self.calm) -> [EventKind] {
            var call = SyntheticCall(roles: [.customer], text: text)
            call.run(seconds: 20, [Self.calm])
            call.run(seconds: 1, [nil])
            Self.say(&call, text1, seconds: 2, voice: voice)
            call.run(seconds: 2, [nil])
            call.finish()
            return call.events.filter { $0.state == .start }.map(\.kind)
        }
        #expect(events("thank you so much, that is perfect") == [.satisfaction])
        #expect(events("um, uh, I don't understand") == [.hesitation])
        #expect(events("thôi, bỏ đi") == [.disengagement])
        #expect(events("I need this fixed right now, immediately").contains(.urgency))
        #expect(Set(events("Vâng, được rồi", voice: Self.heated)).contains(.incongruence))
        #expect(events("Vâng, được rồi").isEmpty)
        #expect(events("the weather is nice today, my account number is four two").isEmpty)
    }

    @Test func complaintWordsTipAModeratelyRaisedVoiceIntoFrustration() throws {
        let text = try TextAnalyzer.bundled()
        // About 2.6 semitones and 2 dB up: below the voice-only threshold, within reach of it with complaint words.
        let raised = (f0: 140.0, balance: -8.0)
        var plain = SyntheticCall(roles: [.customer], text: text)
        plain.run(seconds: 20, [Self.calm])
        Self.say(&plain, "I have been waiting for the technician since monday", seconds: 3, voice: raised)
        #expect(plain.starts(.frustration).isEmpty)
        var complaint = SyntheticCall(roles: [.customer], text: text)
        complaint.run(seconds: 20, [Self.calm])
        Self.say(&complaint, "this is ridiculous, I want to cancel and get a refund", seconds: 3, voice: raised)
        let f = complaint.starts(.frustration)
        #expect(f.count == 1)
        // It starts once "ridiculous" has been said, while the caller is still speaking.
        #expect(f.first?.evidence.words.contains { $0.lowercased().contains("ridiculous") } == true)
        #expect(f.first.map { $0.t > 20.5 && $0.t < 23 } == true)
    }

    @Test func lateTextUpdatesAnOpenEvent() throws {
        let text = try TextAnalyzer.bundled()
        var call = SyntheticCall(roles: [.customer], text: text)
        call.run(seconds: 20, [Self.calm])
        call.run(seconds: 3, [Self.heated])
        #expect(call.starts(.frustration).count == 1)
        // The recogniser's text for 20–23 s arrives only now.
        call.fusion.add(TranscriptUtterance(channel: 0, start: 20, end: 23, text: "this is ridiculous"))
        call.run(seconds: 1.5, [Self.heated])
        let updates = call.events.filter { $0.kind == .frustration && $0.state == .update && !$0.evidence.words.isEmpty }
        #expect(!updates.isEmpty)
    }
}

/// The sentence an agent reads must not contradict the evidence beside it.
@Suite struct EventWordingTests {
    /// A negative spectral balance is a duller timbre, not a quieter voice: it used to read "softer by 3.1 dB" for a
    /// caller 7.8 dB louder than their normal.
    @Test func spectralBalanceIsNotCalledSofter() {
        let evidence = EventEvidence(f0St: 4.2, energyDb: 7.79, balanceDb: -3.1)
        let en = EventWording.explanation(.frustration, evidence, .en)
        #expect(en.contains("voice duller by 3.1 dB"), "\(en)")
        #expect(!en.contains("softer") && !en.contains("quieter"), "\(en)")
        let vi = EventWording.explanation(.frustration, evidence, .vi)
        #expect(vi.contains("giọng đục hơn"), "\(vi)")
        #expect(EventWording.explanation(.frustration, EventEvidence(balanceDb: 2), .en).contains("voice sharper by 2"))
    }
}
