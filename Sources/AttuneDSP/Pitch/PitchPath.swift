import Foundation

/// Stages 3 to 5 of ``PitchTracker``: the unvoiced candidate, the Viterbi path search and its trace-back, and
/// the decided frames (onset hysteresis, tones, the speaker's running mean F0).
extension PitchTracker {
    /// One Viterbi step: best predecessor and accumulated score for every state of frame `index`.
    @inline(__always)
    func advancePath(index: Int) {
        let base = (index & slotMask) * stride
        let count = Int(candCount[index & slotMask])
        // Unvoiced candidate (Praat's formula): the voicing threshold, raised as the frame nears silence.
        // A frame louder than the reference (it rose within the last `referenceFrames`) is not near silence.
        let relative = framePeak[index & slotMask] / max(runningPeak, .leastNormalMagnitude)
        candStrength[base] = Self.voicingThreshold
            + max(0, 2 - relative / (lineSilenceThreshold / (1 + Self.voicingThreshold)))
        if index == 0 {
            for s in 0..<count {
                score[s] = candStrength[base + s]
                backPointer[base + s] = 0
            }
            return
        }
        let previous = ((index - 1) & slotMask) * stride
        let previousCount = Int(candCount[(index - 1) & slotMask])
        var top = -Float.greatestFiniteMagnitude
        // Best way into the unvoiced state, and the best voiced-to-anything switch: unvoiced costs do not
        // depend on the frequency, so they are found once.
        let fromUnvoiced = score[0]
        var bestVoiced = -Float.greatestFiniteMagnitude
        var bestVoicedFrom = 0
        for p in 1..<max(1, previousCount) where score[p] > bestVoiced { bestVoiced = score[p]; bestVoicedFrom = p }
        let (onsetCost, offsetCost) = transitionCosts(index: index)
        // The previous frame's octaves by pointer: `previous + p` with its overflow check was three of the inner
        // loop's fifteen instructions.
        let previousOctave = UnsafePointer(candOctave.baseAddress! + previous)
        let learnt = speakerFrames >= Self.speakerWarmUp
        let bandTop = speakerOctave + Self.speakerTolerance, bandBottom = speakerOctave - Self.speakerTolerance
        let doubtAbove = isWideBandLine ? 0 : Self.narrowBandDoubt
        for s in 0..<count {
            var bestScore: Float
            var bestFrom: Int
            if s == 0 {
                bestScore = fromUnvoiced
                bestFrom = 0
                if bestVoiced - offsetCost > bestScore {
                    bestScore = bestVoiced - offsetCost
                    bestFrom = bestVoicedFrom
                }
            } else {
                let octave = candOctave[base + s]
                bestScore = score[0] - onsetCost
                // Speaker cost per octave above the band (0 where waived) and below it.
                var above: Float = 0
                if learnt {
                    let doubt = 1 - inBandCorrelation(slot: index & slotMask, state: s)
                    above = Self.speakerCost * max(doubt, doubtAbove) * candAboveWeight[base + s]
                    bestScore -= above * max(0, octave - bandTop)
                        + Self.speakerCost * doubt * max(0, bandBottom - octave)
                }
                bestFrom = 0
                for p in 1..<max(1, previousCount) {
                    // The climb cost: the same per octave of this step that lies above the band.
                    let candidate = score[p] - Self.octaveJumpCost * abs(octave - previousOctave[p])
                        - above * max(0, octave - max(previousOctave[p], bandTop))
                    if candidate > bestScore { bestScore = candidate; bestFrom = p }
                }
            }
            let total = bestScore + candStrength[base + s]
            nextScore[s] = total
            backPointer[base + s] = UInt8(bestFrom)
            top = max(top, total)
        }
        // Keep scores near zero so Float keeps its precision over hours of audio.
        for s in 0..<count { nextScore[s] -= top }
        swap(&score, &nextScore)
    }

    /// Whether the line is wide band so far: its running low-band share is above `wideBandShare`.
    @inline(__always)
    var isWideBandLine: Bool { lowBandShare > Self.wideBandShare }

    /// The line's silence threshold: `narrowBandSilenceThreshold` on a narrow-band line, else `silenceThreshold`.
    @inline(__always)
    var lineSilenceThreshold: Float {
        isWideBandLine ? Self.silenceThreshold : Self.narrowBandSilenceThreshold
    }

    /// The band's own r of candidate `state` in path slot `slot`: its correlation without the energy-share scaling.
    @inline(__always)
    func inBandCorrelation(slot: Int, state: Int) -> Float {
        min(1, candCorrelation[slot * stride + state] / max(1e-6, bandWeight[slot]))
    }

    /// Costs of entering and of leaving voicing at frame `index` (see `transitionContrast`). Frames up to
    /// `peakLead` ahead have been analysed; at the end of the stream the newest frame stands in for later ones.
    @inline(__always)
    func transitionCosts(index: Int) -> (Float, Float) {
        let after = bandEnergy[min(index + 2, lastAnalysed) & slotMask]
        let before = bandEnergy[max(index - 2, 0) & slotMask]
        // Floor both sides alike, so digital silence against silence is steady, not an onset.
        let floor = 1e-9 * max(after, before) + Float.leastNormalMagnitude
        let q = pow((after + floor) / (before + floor), Self.transitionContrast)
        let onset = 2 * Self.voicedUnvoicedCost / (1 + q)
        return (onset, 2 * Self.voicedUnvoicedCost - onset)
    }

    /// Traces the best path back from frame `from` down to frame `to`, into `path`.
    ///
    /// Back-pointers never change once written, so where this path meets the last trace's (the same state in
    /// the same frame) the rest of it is the last trace's, already in `path`: the walk jumps down to the first
    /// frame `extendOnsets` cannot have rewritten since (it rewrites up to `lastDecided + onsetReach`) and goes on
    /// from there. Most frames only move the newest few states, so this walks a handful of frames instead of
    /// the whole look-ahead.
    @inline(__always)
    func trace(from: Int, downTo to: Int) {
        let count = Int(candCount[from & slotMask])
        var state = 0
        for s in 1..<max(1, count) where score[s] > score[state] { state = s }
        // Frames in settled...tracedFrom still hold the last trace's states.
        let settled = max(to, lastDecided + Self.onsetReach + 1)
        var k = from
        while true {
            if k <= tracedFrom && k > settled && path[k & slotMask] == UInt8(state) {
                k = settled
                state = Int(path[k & slotMask])
            }
            path[k & slotMask] = UInt8(state)
            if k == to { break }
            state = Int(backPointer[(k & slotMask) * stride + state])
            k -= 1
        }
        tracedFrom = from
    }

    /// Reports frames `lastDecided + 1 ... through` from the path, traced up to frame `tracedTo`.
    @inline(__always)
    func emit(through: Int, tracedTo: Int, decided: Decided) {
        extendOnsets(through: through, tracedTo: tracedTo)
        let floor = Float(settings.pitchFloor), ceiling = Float(settings.pitchCeiling)
        var k = lastDecided + 1
        while k <= through {
            let slot = k & slotMask
            let state = Int(path[slot])
            var f0: Float = 0
            var hnr: Float?
            if state != 0 {
                let octave = candOctave[slot * stride + state]
                if !isTone(k, tracedTo: tracedTo) {
                    // Counted only until the fixed weight takes over, so hours of speech never exhaust Float.
                    if speakerFrames < 1 / Self.speakerAdapt { speakerFrames += 1 }
                    speakerOctave += max(Self.speakerAdapt, 1 / speakerFrames) * (octave - speakerOctave)
                }
                f0 = min(ceiling, max(floor, candFrequency[slot * stride + state]))
                hnr = Self.harmonicsToNoise(inBandCorrelation(slot: slot, state: state))
                if steadyFrames == 0 {
                    voicedFrom = k
                    steadyFrames = 1
                } else {
                    steadyFrames = abs(octave - octaveOnPath(k - 1)) < Self.toneStep ? steadyFrames + 1 : 1
                }
                if steadyFrames >= Self.toneFrames { lastSteadyEnd = k }
            } else {
                steadyFrames = 0
            }
            decided(k, f0, periodicity[slot], hnr)
            k += 1
        }
        lastDecided = through
    }

    /// Stage 5: voices the unvoiced frames within `onsetReach` before each voiced run that hold a candidate
    /// near the run's F0 no more than `onsetMargin` (on a narrow-band line `narrowBandOnsetMargin`) weaker than
    /// their unvoiced strength, on the path of frames `lastDecided + 1 ... through`. Walks back from the newest
    /// frame that can reach `through`, so a frame joins a run only through the frames after it.
    @inline(__always)
    func extendOnsets(through: Int, tracedTo: Int) {
        var k = min(tracedTo - 1, through + Self.onsetReach)
        var reach = 0  // frames this run has already been extended by
        let margin = isWideBandLine ? Self.onsetMargin : Self.narrowBandOnsetMargin
        while k > lastDecided {
            let slot = k & slotMask
            let next = (k + 1) & slotMask
            let original = path[slot]
            if original == 0 && path[next] != 0 && reach < Self.onsetReach {
                let runOctave = candOctave[next * stride + Int(path[next])]
                let base = slot * stride
                var best = 0
                var bestStrength = candStrength[base] - margin
                for c in 1..<max(1, Int(candCount[slot]))
                where abs(candOctave[base + c] - runOctave) < Self.onsetTolerance && candStrength[base + c] >= bestStrength {
                    best = c
                    bestStrength = candStrength[base + c]
                }
                path[slot] = UInt8(best)
            }
            reach = original != 0 || path[slot] == 0 ? 0 : reach + 1
            k -= 1
        }
    }

    /// Whether voiced frame `k` belongs to a tone (see `toneFrames`): the voiced run around it on the path,
    /// as far as `toneReach` frames either side (back into decided frames, forward up to `tracedTo`), holds
    /// `toneFrames` frames in a row whose F0 moves by less than `toneStep` from frame to frame.
    ///
    /// Frames before `k` are decided, and `emit` keeps their steady stretch (`steadyFrames`, `lastSteadyEnd`),
    /// so only the frames from `k` on are walked: a walk from the window's first frame would count the same.
    @inline(__always)
    func isTone(_ k: Int, tracedTo: Int) -> Bool {
        // The window's first frame: the run's, or `toneReach` back.
        let first = steadyFrames > 0 ? max(voicedFrom, k - Self.toneReach, 0) : k
        if lastSteadyEnd >= first + Self.toneFrames - 1 { return true }
        let last = min(tracedTo, k + Self.toneReach)
        // Steady frames in a row ending at frame `j - 1`, counted from `first`.
        var steady = k > first ? min(steadyFrames, k - first) : 0
        var previous: Float = 0
        if steady > 0 { previous = octaveOnPath(k - 1) }
        var j = k
        while j <= last {
            let state = Int(path[j & slotMask])
            if state == 0 { break }
            let octave = candOctave[(j & slotMask) * stride + state]
            steady = steady > 0 && abs(octave - previous) < Self.toneStep ? steady + 1 : 1
            if steady >= Self.toneFrames { return true }
            previous = octave
            j += 1
        }
        return false
    }

    @inline(__always)
    func octaveOnPath(_ j: Int) -> Float {
        candOctave[(j & slotMask) * stride + Int(path[j & slotMask])]
    }
}
