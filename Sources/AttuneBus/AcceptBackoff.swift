import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

extension ServerBootstrap {
    /// Logs, at most once a minute, that accept(2) fails (EMFILE when the descriptors have run out), which NIO
    /// otherwise drops without a word. NIO keeps retrying such an accept at once while a client waits (its
    /// AcceptBackoffHandler cannot pause it on this bind path: the failed accept leaves the read pending, so the
    /// listening socket stays registered), so the line is the operator's cue; attuned raises its open-files limit
    /// at start and warns when it is low, so that this is rare.
    public func loggingFailedAccepts(_ socket: String, logger: Logger) -> ServerBootstrap {
        let lastLogged = NIOLockedValueBox<NIODeadline?>(nil)
        return serverChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(AcceptFailureLog(socket: socket, logger: logger, lastLogged: lastLogged))
            }
        }
    }
}

private final class AcceptFailureLog: ChannelInboundHandler, Sendable {
    typealias InboundIn = Channel
    let socket: String
    let logger: Logger
    let lastLogged: NIOLockedValueBox<NIODeadline?>

    init(socket: String, logger: Logger, lastLogged: NIOLockedValueBox<NIODeadline?>) {
        self.socket = socket
        self.logger = logger
        self.lastLogged = lastLogged
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let now = NIODeadline.now()
        let due = lastLogged.withLockedValue { last -> Bool in
            guard last.map({ now - $0 >= .seconds(60) }) ?? true else { return false }
            last = now
            return true
        }
        if due {
            logger.error("cannot accept connections (raise the open-files limit, LimitNOFILE)",
                         metadata: ["socket": "\(socket)", "error": "\(error)"])
        }
    }
}
