/// Maps call time to the report's x axis, and picks and labels its ticks.
public struct TimeScale: Sendable, Equatable {
    /// Seconds the axis spans, from 0.
    public let duration: Double
    /// x of time 0 and of `duration`, in SVG user units (pixels).
    public let left: Double
    public let right: Double

    /// An axis from 0 to `duration` seconds drawn from x `left` to x `right`; a duration that is not positive
    /// becomes one second.
    public init(duration: Double, left: Double, right: Double) {
        // A call of no length still needs an axis; one second keeps every mapping finite.
        self.duration = duration.isFinite && duration > 0 ? duration : 1
        self.left = left
        self.right = right
    }

    /// The x of time `t`, clamped to the axis so nothing is drawn outside the plot.
    public func x(_ t: Double) -> Double {
        guard t.isFinite else { return t < 0 ? left : right }
        return left + (right - left) * min(max(t / duration, 0), 1)
    }

    /// Seconds per pixel.
    var secondsPerPixel: Double { duration / (right - left) }

    /// Calls of a minute or more read better as minutes and seconds.
    var usesClockTime: Bool { duration >= 60 }

    /// Tick times, 0 first: the smallest round step that leaves at least ~100 px between labels.
    var ticks: [Double] {
        let steps: [Double] = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]
        let most = max(2, (right - left) / 100)
        let step = steps.first { duration / $0 <= most } ?? 3600
        return (0...Int((duration / step).rounded(.down))).map { Double($0) * step }
    }

    /// A tick's label: seconds for short calls (with a decimal when the step needs one), m:ss for long ones.
    func label(_ t: Double) -> String {
        if usesClockTime { return Self.clock(t) }
        let whole = (t - t.rounded()).magnitude < 1e-6
        return whole ? fixed(t, 0) : fixed(t, 1)
    }

    /// `t` as m:ss, or h:mm:ss from an hour.
    static func clock(_ t: Double) -> String {
        let total = Int(t.rounded())
        let s = total % 60, m = (total / 60) % 60, h = total / 3600
        let ss = s < 10 ? "0\(s)" : "\(s)"
        if h > 0 { return "\(h):" + (m < 10 ? "0\(m)" : "\(m)") + ":" + ss }
        return "\(m):" + ss
    }

    /// The call's length as the title shows it: `32.4 s` below a minute, else clock time.
    var durationLabel: String { usesClockTime ? Self.clock(duration) : fixed(duration, 1) + " s" }
}
