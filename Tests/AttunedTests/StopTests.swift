import AttuneTestSupport
import Foundation
import Testing

extension DaemonSuite {
    @Suite("Stop") struct StopTests {
        /// A dispatcher that stops a call and starts the same id again must not be told it is still running: the
        /// `stop` reply comes once the call has ended (its call_end is out).
        @Test("a call stopped and started again under the same id starts")
        func stopThenStartTheSameId() throws {
            let daemon = try Daemon()
            let subscriber = try daemon.subscribe(#"{"subscribe":{"calls":["r1"],"types":["call_start","call_end"]}}"#)
            try daemon.start("r1", "file:\(sampleCall)")
            #expect(eventually(timeout: 30) { (try? daemon.calls()) == ["r1"] })
            // In one write, as a dispatcher pipelines them: the start is read as soon as the stop has its reply.
            let control = try UnixClient(path: daemon.control)
            try control.send(#"{"cmd":"stop","call":"r1"}"# + "\n" + #"{"cmd":"start","call":"r1","source":"file:\#(sampleCall)?speed=max"}"# + "\n")
            let stopped = try jsonObject(try #require(try control.readLine(timeout: 30)))
            #expect(stopped["ok"] as? Bool == true, "\(stopped)")
            #expect(stopped["ended"] as? Bool == true, "\(stopped)")
            let again = try jsonObject(try #require(try control.readLine(timeout: 30)))
            #expect(again["ok"] as? Bool == true, "\(again)")
            let ends = { subscriber.receivedLines.filter { $0.contains(#""type":"call_end""#) } }
            #expect(try UnixClient.pump([subscriber], timeout: 60) { ends().count == 2 }, "\(published(subscriber))")
            #expect(ends().first?.contains(#""reason":"stopped""#) == true, "\(ends())")
            #expect(daemon.terminate() == 0)
        }
    }
}
