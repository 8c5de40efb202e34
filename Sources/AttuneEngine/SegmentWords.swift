import AttuneDSP
import AttuneText

// Here, where segments meet text: the DSP knows nothing of transcripts, and AttuneText nothing of segments.
extension Transcript {
    /// The words of `channel` that belong to `segment`, in time order, given the channel's segment before it
    /// (`previous`, nil for the first). Asked for each segment as it closes, before the next is known, it places each
    /// word of an utterance that overlaps a segment in exactly one; a word can only go missing by waiting for a
    /// later segment that never comes (below).
    ///
    /// A word goes where its midpoint lies, but recognisers' utterance bounds take in some of the silence around
    /// the speech, and words without timings are spread over all of it (``Transcript/withWordTimes(_:)``), so
    /// midpoints often lie in the pauses. There, among the segments its utterance overlaps, a word goes to the
    /// segment before the pause up to the earliest time the next segment could start (``SegmentBounds/nextStart``:
    /// 250 ms after a pause began, at once after a 30 s split) and to the segment after it from then on; an
    /// utterance that ends before that goes wholly to the segment before. Words before an utterance's first
    /// segment go to it. What an utterance still has past the earliest next start when no later segment overlaps
    /// it goes to the channel's next segment, rather than to none: that pause was longer than could be known when
    /// the segment before it closed; if the channel has no next segment, it is lost. Words with timings of their
    /// own (which may stray 0.5 s outside their utterance) follow the same rule.
    public func words(channel: Int, in segment: SegmentBounds, after previous: SegmentBounds?) -> [String] {
        var out: [(Double, String)] = []
        for u in utterances where u.channel == channel && u.start <= segment.end {
            // The segment before took this utterance's words up to its `nextStart` (all of them, if it ended sooner)…
            let from = previous.flatMap { u.start <= $0.end && u.end >= $0.start ? $0.nextStart : nil }
            // …so one that overlaps only that segment brings here what it still had past then.
            guard u.end >= segment.start || from.map({ u.end >= $0 }) == true else { continue }
            // Past the earliest next start a word may be a later segment's, unless its utterance ends before then.
            let to = u.end >= segment.nextStart ? segment.nextStart : Double.infinity
            let lower = from ?? -Double.infinity
            for w in u.words where w.midpoint >= lower && w.midpoint < to { out.append((w.midpoint, w.word)) }
        }
        return out.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
