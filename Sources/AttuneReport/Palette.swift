import Foundation
import AttuneEvents

/// Colours and names of the report. Colour is kept for events: the measurements are drawn in one blue and
/// greys, so anything coloured on the page is something that happened. Event colours are Okabe and Ito's
/// palette, which stays distinguishable with the common colour-vision deficiencies; every band also carries its
/// kind as text, and conversation events are hatched, so nothing depends on colour alone.
enum Palette {
    static let pitch = "#0072B2"
    static let energyFill = "#BDBDBD"
    static let energyLine = "#7F7F7F"
    static let rate = "#4D4D4D"
    static let speech = "#E8EEF6"
    static let grid = "#E0E0E0"
    static let frame = "#C8C8C8"
    static let text = "#1A1A1A"
    static let muted = "#5C5C5C"

    static func colour(_ kind: EventKind) -> String {
        switch kind {
        case .frustration: "#D55E00"
        case .urgency: "#E69F00"
        case .hesitation: "#F0E442"
        case .disengagement: "#CC79A7"
        case .satisfaction: "#009E73"
        case .incongruence: "#56B4E9"
        case .deadAir: "#8C8C8C"
        case .talkOver: "#3C3C3C"
        case .slowResponse: "#882255"
        }
    }

    /// The fill of a band: solid for a speaker's state, a hatch pattern (``patternID(_:)``) for conversation events.
    static func fill(_ kind: EventKind) -> String {
        kind.isConversation ? "url(#\(patternID(kind)))" : colour(kind)
    }

    static func patternID(_ kind: EventKind) -> String { "hatch-" + kind.rawValue }

    /// The kind as a label: `dead air`, not `dead_air`.
    static func name(_ kind: EventKind) -> String { kind.rawValue.replacingOccurrences(of: "_", with: " ") }

    static func name(_ role: Role) -> String {
        switch role {
        case .agent: "Agent"
        case .customer: "Customer"
        case .unknown: "Speaker"
        }
    }
}

/// Text widths without a font engine: DejaVu Sans (what rsvg and most Linux browsers fall back to) averages about
/// 0.58 em per character, 0.64 em in bold; estimating a little wide keeps labels apart.
func textWidth(_ text: String, size: Double, bold: Bool = false) -> Double {
    Double(text.count) * size * (bold ? 0.64 : 0.58)
}

/// `text` cut to at most `width` at `size`, at a word boundary when one is near, with an ellipsis; nil when not
/// even one character and the ellipsis fit.
func truncated(_ text: String, toWidth width: Double, size: Double, bold: Bool = false) -> String? {
    if textWidth(text, size: size, bold: bold) <= width { return text }
    let fits = Int(width / (size * (bold ? 0.64 : 0.58))) - 1
    guard fits >= 1 else { return nil }
    var cut = String(text.prefix(fits))
    if let space = cut.lastIndex(of: " "), cut.distance(from: cut.startIndex, to: space) >= fits * 2 / 3 {
        cut = String(cut[..<space])
    }
    return cut.trimmingCharacters(in: .whitespaces.union(.punctuationCharacters)) + "…"
}
