import AttuneBus
import AttuneEngine
import AttuneFleet
import CoreMetrics
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import Synchronization

/// The daemon's Prometheus metrics: swift-metrics instruments backed by swift-prometheus, sampled from the
/// engine and the bus once a second, and served as text on a loopback HTTP port (off unless configured).
final class DaemonMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let callsActive: CoreMetrics.Gauge
    private let framesPerSecond: CoreMetrics.Gauge
    private let framesTotal: CoreMetrics.Counter
    private let droppedTotal: CoreMetrics.Counter
    private let gapsTotal: CoreMetrics.Counter
    private let xrunsTotal: CoreMetrics.Counter
    private let subscribers: CoreMetrics.Gauge
    private let lag: CoreMetrics.Recorder
    /// The fleet link's series, registered only when the daemon publishes to NATS (README: "with NATS"), so a
    /// dashboard does not read a daemon without NATS as one whose NATS is down.
    private let nats: NATSSeries?
    private let last = Mutex<(frames: Int, dropped: Int, gaps: Int, xruns: Int)>((0, 0, 0, 0))
    private let lastNats = Mutex<(published: Int, dropped: Int)>((0, 0))

    private struct NATSSeries {
        let connected: CoreMetrics.Gauge
        let streamMissing: CoreMetrics.Gauge
        let buffered: CoreMetrics.Gauge
        let published: CoreMetrics.Counter
        let dropped: CoreMetrics.Counter
    }

    /// - Parameter nats: whether the daemon publishes to NATS (registers the `attune_nats_*` series).
    init(nats: Bool) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets["attune_call_lag_seconds"] = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2]
        callsActive = CoreMetrics.Gauge(label: "attune_calls_active", factory: factory)
        framesPerSecond = CoreMetrics.Gauge(label: "attune_frames_per_second", factory: factory)
        framesTotal = CoreMetrics.Counter(label: "attune_frames_analysed_total", factory: factory)
        droppedTotal = CoreMetrics.Counter(label: "attune_samples_dropped_total", factory: factory)
        gapsTotal = CoreMetrics.Counter(label: "attune_subscriber_records_dropped_total", factory: factory)
        xrunsTotal = CoreMetrics.Counter(label: "attune_capture_xruns_total", factory: factory)
        subscribers = CoreMetrics.Gauge(label: "attune_subscribers", factory: factory)
        lag = CoreMetrics.Recorder(label: "attune_call_lag_seconds", aggregate: true, factory: factory)
        self.nats = !nats ? nil : NATSSeries(
            connected: CoreMetrics.Gauge(label: "attune_nats_connected", factory: factory),
            streamMissing: CoreMetrics.Gauge(label: "attune_nats_stream_missing", factory: factory),
            buffered: CoreMetrics.Gauge(label: "attune_nats_buffered_records", factory: factory),
            published: CoreMetrics.Counter(label: "attune_nats_records_published_total", factory: factory),
            dropped: CoreMetrics.Counter(label: "attune_nats_records_dropped_total", factory: factory))
    }

    /// Samples the engine and the bus; called once a second.
    func sample(engine: LiveEngine, bus: EventBus, fleet: FleetNode?) async {
        if let f = fleet?.stats, let nats {
            nats.connected.record(f.connected ? 1 : 0)
            nats.streamMissing.record(f.streamMissing ? 1 : 0)
            nats.buffered.record(f.buffered)
            lastNats.withLock { l in
                nats.published.increment(by: max(0, f.published - l.published))
                nats.dropped.increment(by: max(0, f.dropped - l.dropped))
                l = (f.published, f.dropped)
            }
        }
        let e = engine.stats()
        let b = await bus.stats()
        callsActive.record(e.callsActive)
        subscribers.record(b.subscribers)
        for call in engine.list() { lag.record(call.lagSeconds) }
        last.withLock { l in
            framesTotal.increment(by: max(0, e.framesAnalysed - l.frames))
            framesPerSecond.record(max(0, e.framesAnalysed - l.frames))
            droppedTotal.increment(by: max(0, e.droppedFrames - l.dropped))
            gapsTotal.increment(by: max(0, b.droppedForSubscribers - l.gaps))
            xrunsTotal.increment(by: max(0, e.xruns - l.xruns))
            l = (e.framesAnalysed, e.droppedFrames, b.droppedForSubscribers, e.xruns)
        }
    }

    /// Serves `GET /metrics` on `host:port` until the returned channel is closed. The log line names the port
    /// actually bound, which is how one asked for as 0 is found.
    func serve(host: String, port: Int, logger: Logger) async throws -> Channel {
        let registry = self.registry
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .loggingFailedAccepts("metrics \(host):\(port)", logger: logger)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHTTPHandler(registry: registry))
                }
            }
            .bind(host: host, port: port).get()
        let bound = channel.localAddress?.port ?? port
        let listen: Logger.MetadataValue = host.contains(":") ? "[\(host)]:\(bound)" : "\(host):\(bound)"
        logger.info("serving metrics", metadata: ["listen": listen])
        if !DaemonConfig.loopbackHosts.contains(host) {
            logger.warning("metrics served beyond loopback, as the config file's [metrics] allow_remote says",
                           metadata: ["listen": listen])
        }
        return channel
    }
}

/// Answers `GET /metrics` with the Prometheus text format and `HEAD /metrics` with its headers (uptime checks and
/// load balancers probe with HEAD); another method on `/metrics` with 405, naming the two; any other path with 404.
private final class MetricsHTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let metrics = request.uri == "/metrics" || request.uri.hasPrefix("/metrics?")
        let readable = request.method == .GET || request.method == .HEAD
        let status: HTTPResponseStatus = !metrics ? .notFound : readable ? .ok : .methodNotAllowed
        let body = switch status {
        case .ok: registry.emitToBuffer()
        case .methodNotAllowed: Array("method not allowed; use GET or HEAD\n".utf8)
        default: Array("not found; try /metrics\n".utf8)
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: status == .ok ? "text/plain; version=0.0.4" : "text/plain")
        headers.add(name: "Content-Length", value: "\(body.count)")
        if status == .methodNotAllowed { headers.add(name: "Allow", value: "GET, HEAD") }
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        // The channel, not the context, in the completion: a `Channel` is Sendable, and closing it from there
        // after the response is flushed is the same close.
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
