import OkraEnvelope
import Tracing

/// Whether the bridge makes spans, and with which tracer (swift-distributed-tracing's API; the
/// executable gives swift-otel's OTLP exporter when `--otlp-endpoint` or
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set).
///
/// Off, no span is made anywhere and no tracer is asked: a caller's `traceparent` is still carried
/// onto the event and its records, unchanged. On, each webhook is a span continuing the caller's
/// trace (or starting one), the store commit its child, and each record's Kafka delivery a child
/// of the webhook's span, made by the publisher (docs/operations.md, "Tracing one event").
public struct EventTracing: Sendable {
    /// The tracer; nil when tracing is off.
    public let tracer: (any Tracer)?

    /// Tracing off.
    public static let off = EventTracing(tracer: nil)

    /// Spans made by `tracer`.
    public static func on(_ tracer: any Tracer) -> EventTracing { EventTracing(tracer: tracer) }

    private init(tracer: (any Tracer)?) { self.tracer = tracer }

    /// Whether spans are made.
    public var isOn: Bool { tracer != nil }
}

/// A span made by ``EventTracing``, with the one thing the bridge needs besides its lifetime:
/// its trace context as W3C headers, for the event.
public struct EventSpan: Sendable {
    /// The span.
    public let span: any Span
    /// Its context, as the parent of the spans made under it.
    public var context: ServiceContext { span.context }
    /// Its `traceparent` and `tracestate`, when the tracer writes W3C Trace Context.
    public let trace: TraceContext?
}

extension EventTracing {
    /// Starts a span named `name` of `kind`, as a child of the trace `parent` names (a
    /// `traceparent` from the caller or from a stored record) or of `parentSpan`, or a new trace
    /// when neither is given; nil when tracing is off. The caller ends it.
    public func start(_ name: String, kind: SpanKind, parent: TraceContext? = nil, parentSpan: ServiceContext? = nil,
                      at instant: DefaultTracerClock.Instant = DefaultTracerClock.now) -> EventSpan? {
        guard let tracer else { return nil }
        return Self.start(tracer, name, kind: kind, parent: parent, parentSpan: parentSpan, at: instant)
    }

    private static func start<T: Tracer>(_ tracer: T, _ name: String, kind: SpanKind, parent: TraceContext?, parentSpan: ServiceContext?,
                                         at instant: DefaultTracerClock.Instant) -> EventSpan {
        var context = parentSpan ?? .topLevel
        if parentSpan == nil, let parent {
            tracer.extract(parent, into: &context, using: TraceHeaderExtractor())
        }
        let span = tracer.startSpan(name, context: context, ofKind: kind, at: instant)
        var headers: [String: String] = [:]
        tracer.inject(span.context, into: &headers, using: TraceHeaderInjector())
        let trace = headers["traceparent"].flatMap { TraceContext(traceParent: $0, traceState: headers["tracestate"]) }
        return EventSpan(span: span, trace: trace)
    }
}

/// Reads W3C Trace Context's two headers from a ``TraceContext``, for a tracer's propagator.
struct TraceHeaderExtractor: Extractor {
    func extract(key: String, from carrier: TraceContext) -> String? {
        switch key.lowercased() {
        case "traceparent": carrier.traceParent
        case "tracestate": carrier.traceState
        default: nil
        }
    }
}

/// Collects the headers a tracer's propagator writes.
struct TraceHeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key.lowercased()] = value
    }
}

extension TraceContext {
    /// The trace context a record's headers carry (`traceparent`, `tracestate`), if any.
    public init?(headers: [(name: String, value: String)]) {
        guard let parent = headers.first(where: { $0.name == "traceparent" })?.value else { return nil }
        self.init(traceParent: parent, traceState: headers.first { $0.name == "tracestate" }?.value)
    }
}

extension EventSpan {
    /// Notes on the webhook's span what became of it: the result, the event's id, and an error
    /// status when the bridge could not take it (a 503).
    func describe(_ answer: IngestAnswer) {
        span.attributes["okra.result"] = answer.result
        if case .accepted(let id, _) = answer { span.attributes["okra.event.id"] = id }
        if case .unavailable = answer { span.setStatus(SpanStatus(code: .error, message: "the event could not be made durable")) }
    }
}
