import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

extension ServerBootstrap {
    /// Pauses accepting for a second when accept(2) fails for want of descriptors or memory (EMFILE, ENFILE,
    /// ENOBUFS, ENOMEM), and logs it at most once a minute, which NIO otherwise does neither of.
    ///
    /// NIO retries such an accept at once, for as long as a client waits in the backlog: a core spun at about
    /// 6,000 accept(2) calls a second with nothing in the log. Its `AcceptBackoffHandler` cannot stop that on this
    /// bind path, since it only holds back the next `read()` while the failed accept left the read pending and the
    /// listening socket registered; turning `autoRead` off takes the socket out of the poll set, and turning it on
    /// again a second later retries. attuned raises its open-files limit at start and warns when it is low, so that
    /// this is rare.
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
    /// How long accepting pauses after a failure that more tries cannot mend at once.
    static let pause = TimeAmount.seconds(1)
    let socket: String
    let logger: Logger
    let lastLogged: NIOLockedValueBox<NIODeadline?>

    init(socket: String, logger: Logger, lastLogged: NIOLockedValueBox<NIODeadline?>) {
        self.socket = socket
        self.logger = logger
        self.lastLogged = lastLogged
    }

    /// The accept(2) failures NIO keeps the listening socket open for: the process or the system is out of
    /// descriptors or memory, which only time (a call or subscriber ending) mends.
    static func isExhaustion(_ error: Error) -> Bool {
        guard let io = error as? IOError else { return false }
        return [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(io.errnoCode)
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
        guard Self.isExhaustion(error), let options = context.channel.syncOptions,
              (try? options.getOption(ChannelOptions.autoRead)) == true,
              (try? options.setOption(ChannelOptions.autoRead, value: false)) != nil else { return }
        let channel = context.channel
        context.eventLoop.scheduleTask(in: Self.pause) {
            // A listener closed meanwhile (shutdown) refuses the option; nothing is left to resume then.
            try? channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        }
    }
}
