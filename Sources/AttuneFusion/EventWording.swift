import AttuneEvents
import AttuneText
import Foundation

/// The sentence a person reads for an event, and what the agent could do, in English or Vietnamese. Built from
/// the evidence, so it says *why* in the caller's own terms ("pitch 4 semitones above their normal").
enum EventWording {
    static func explanation(_ kind: EventKind, _ e: EventEvidence, _ lang: Language) -> String {
        let because = reasons(e, lang)
        let said = e.words.isEmpty ? "" : (lang == .vi ? "; nói " : "; said ") + e.words.prefix(4).map { "“\($0)”" }.joined(separator: ", ")
        let tail = (because.isEmpty ? "" : (lang == .vi ? ": " : ": ") + because.joined(separator: ", ")) + said
        switch (kind, lang) {
        case (.frustration, .en): return "Caller sounds frustrated" + tail + "."
        case (.frustration, .vi): return "Khách hàng có vẻ bực bội" + tail + "."
        case (.urgency, .en): return "Caller sounds in a hurry" + tail + "."
        case (.urgency, .vi): return "Khách hàng có vẻ đang vội" + tail + "."
        case (.hesitation, .en): return "Caller hesitates" + tail + "."
        case (.hesitation, .vi): return "Khách hàng đang lưỡng lự" + tail + "."
        case (.disengagement, .en): return "Caller may be giving up" + tail + "."
        case (.disengagement, .vi): return "Khách hàng có thể sắp bỏ cuộc" + tail + "."
        case (.satisfaction, .en): return "Caller sounds satisfied" + tail + "."
        case (.satisfaction, .vi): return "Khách hàng có vẻ hài lòng" + tail + "."
        case (.incongruence, .en): return "The words say fine, the voice does not" + tail + "."
        case (.incongruence, .vi): return "Lời nói thì đồng ý nhưng giọng thì không" + tail + "."
        case (.deadAir, .en): return "Nobody has spoken for \(seconds(e.pauseS, lang))."
        case (.deadAir, .vi): return "Không ai nói gì trong \(seconds(e.pauseS, lang))."
        case (.slowResponse, .en): return "The customer has waited \(seconds(e.pauseS, lang)) for an answer."
        case (.slowResponse, .vi): return "Khách hàng đã chờ \(seconds(e.pauseS, lang)) để được trả lời."
        case (.talkOver, .en): return "Both sides are talking at once (\(seconds(e.pauseS, lang)))."
        case (.talkOver, .vi): return "Hai bên đang nói cùng lúc (\(seconds(e.pauseS, lang)))."
        }
    }

    static func suggestion(_ kind: EventKind, _ lang: Language) -> String {
        switch (kind, lang) {
        case (.frustration, .en): return "Acknowledge the problem, slow down, and offer one concrete next step."
        case (.frustration, .vi): return "Ghi nhận vấn đề, nói chậm lại và đưa ra một bước xử lý cụ thể."
        case (.urgency, .en): return "Get to the point: say what you will do and how long it takes."
        case (.urgency, .vi): return "Đi thẳng vào vấn đề: nói rõ sẽ làm gì và mất bao lâu."
        case (.hesitation, .en): return "Check understanding and explain the step again in simpler words."
        case (.hesitation, .vi): return "Hỏi lại xem khách đã hiểu chưa và giải thích lại đơn giản hơn."
        case (.disengagement, .en): return "Re-engage: summarise what is solved and ask what still matters to them."
        case (.disengagement, .vi): return "Kéo khách quay lại: tóm tắt những gì đã giải quyết và hỏi điều họ còn quan tâm."
        case (.satisfaction, .en): return "Confirm the resolution and close warmly."
        case (.satisfaction, .vi): return "Xác nhận vấn đề đã được giải quyết và kết thúc cuộc gọi thân thiện."
        case (.incongruence, .en): return "Do not take the yes at face value: ask whether the solution really works for them."
        case (.incongruence, .vi): return "Đừng coi lời đồng ý là chắc chắn: hỏi lại xem giải pháp có thực sự phù hợp không."
        case (.deadAir, .en): return "Tell the caller what you are doing while they wait."
        case (.deadAir, .vi): return "Cho khách biết bạn đang làm gì trong lúc họ chờ."
        case (.slowResponse, .en): return "Answer, or say you are checking and how long it will take."
        case (.slowResponse, .vi): return "Trả lời khách, hoặc nói rằng bạn đang kiểm tra và cần bao lâu."
        case (.talkOver, .en): return "Pause and let the caller finish."
        case (.talkOver, .vi): return "Dừng lại và để khách nói hết."
        }
    }

    private static func reasons(_ e: EventEvidence, _ lang: Language) -> [String] {
        var out: [String] = []
        if let f = e.f0St, abs(f) >= 1 {
            out.append(lang == .vi ? "giọng \(f > 0 ? "cao" : "thấp") hơn bình thường \(number(abs(f), lang)) nửa cung"
                                   : "pitch \(number(abs(f), lang)) semitones \(f > 0 ? "above" : "below") their normal")
        }
        // Spectral balance is timbre, not level: "softer" read as quieter, beside a caller louder than their normal.
        if let b = e.balanceDb, abs(b) >= 1.5 {
            out.append(lang == .vi ? "giọng \(b > 0 ? "gắt" : "đục") hơn (\(number(abs(b), lang)) dB)"
                                   : "voice \(b > 0 ? "sharper" : "duller") by \(number(abs(b), lang)) dB")
        }
        if let r = e.ratePct, abs(r) >= 10 {
            out.append(lang == .vi ? "nói \(r > 0 ? "nhanh" : "chậm") hơn \(Int(abs(r).rounded()))%"
                                   : "speaking \(Int(abs(r).rounded()))% \(r > 0 ? "faster" : "slower")")
        }
        if let d = e.energyDb, d <= -3 {
            out.append(lang == .vi ? "giọng nhỏ đi \(number(-d, lang)) dB" : "voice \(number(-d, lang)) dB quieter")
        }
        if let p = e.pauseS, p >= 1 {
            out.append(lang == .vi ? "ngừng \(seconds(p, lang))" : "pausing \(seconds(p, lang))")
        }
        return out
    }

    static func number(_ x: Double, _ lang: Language) -> String {
        let s = String(format: "%.1f", x)
        return lang == .vi ? s.replacingOccurrences(of: ".", with: ",") : s
    }

    static func seconds(_ x: Double?, _ lang: Language) -> String {
        number(x ?? 0, lang) + (lang == .vi ? " giây" : " s")
    }
}
