/// The words of the envelope (the contract's §1) as types. Each raw value is the contract's
/// word, so what is written out never changes; code that holds one of these cannot hold a word
/// outside the vocabulary.

/// Size bounds of the envelope, so a body of a known size always makes a record of a known size.
public enum EnvelopeLimits {
    /// The longest value (UTF-8 bytes) an attribute taken from the payload may have (`okrarecord`,
    /// `okracustomer`, `okraaccount`, `okrabank`, `okracode`, `time`): a longer one is left out of
    /// the attributes, as if absent (the payload in `data` still carries it). Okra's ids are 24
    /// characters; the bound keeps a hostile payload from tripling its size in the envelope.
    public static let maxAttributeBytes = 256

    /// The most bytes a routed record adds to its body, in either format: the attributes (each
    /// at most ``maxAttributeBytes``, escaped at most 6 to 1), the key and the headers.
    public static let maxRecordOverhead = 16 * 1024
}

/// What an event is about (`okraproduct`).
public enum OkraProduct: String, Sendable, CaseIterable, CustomStringConvertible {
    case auth, identity, accounts, balance, transactions, income, payment, record, user, widget, unknown

    /// The contract's word.
    public var description: String { rawValue }
}

/// What an event reports (`okraoutcome`).
public enum OkraOutcome: String, Sendable, CaseIterable, CustomStringConvertible {
    case success, failed, cancelled, deleted, updated, disconnected
    case reauthRequired = "reauth_required"
    case event, unknown

    /// The contract's word.
    public var description: String { rawValue }
}

/// Which of Okra's environments an event belongs to (`okraenv`).
public enum OkraEnvironment: String, Sendable, CaseIterable, CustomStringConvertible {
    case production, sandbox, unknown

    /// CloudEvents `source`: always `okra/` and the environment, so it is never stored apart.
    public var source: String { "okra/" + rawValue }

    /// The contract's word.
    public var description: String { rawValue }
}

/// The shapes Okra sends (`okrashape`), each with the test that recognizes it. Tried in order.
public enum OkraShape: String, Sendable, CaseIterable, CustomStringConvertible {
    case widgetEvent = "widget-event"
    case userEvent = "user-event"
    case callbackV2 = "callback-v2"
    case callbackV1 = "callback-v1"
    case widgetSuccess = "widget-success"
    case unknown = "unknown"

    /// The contract's word.
    public var description: String { rawValue }

    /// The shape of a JSON object.
    static func detect(_ payload: JSONElement) -> OkraShape {
        for shape in allCases where shape.matches(payload) { return shape }
        return .unknown
    }

    private func matches(_ p: JSONElement) -> Bool {
        switch self {
        case .widgetEvent:
            // `onEvent` payloads posted to event_callback_url.
            return p["event_name"]?.nonEmptyString != nil || (p["event_type"] != nil && p["event_data"] != nil)
        case .userEvent:
            // {"event": "USER_DISCONNECT" | "USER_REAUTH", "data": {...}}
            if p["data"]?.isObject == true, let event = p["event"]?.nonEmptyString { return event.hasPrefix("USER_") }
            return false
        case .callbackV2:
            if p["type"]?.nonEmptyString?.uppercased() == "CALLBACK" { return true }
            return p["method"]?.nonEmptyString != nil && (p["code"]?.nonEmptyString != nil || p["callback_code"]?.nonEmptyString != nil)
        case .callbackV1:
            return p["callback_type"]?.nonEmptyString != nil && p["callback_code"]?.nonEmptyString != nil
        case .widgetSuccess:
            // The widget's onSuccess metadata: a record plus the bank or accounts it linked.
            if p["auth"]?["bank_details"] != nil { return true }
            return p["record_id"]?.nonEmptyString != nil && (p["accounts"] != nil || p["success"] != nil)
        case .unknown:
            return true
        }
    }

    /// The shapes an event of `product` with `outcome` can have (for planning topics: a route
    /// may match on `shape`).
    public static func possible(product: OkraProduct, outcome: OkraOutcome) -> [OkraShape] {
        switch product {
        case .user: return [.userEvent]
        case .widget: return outcome == .event ? [.widgetEvent] : [.widgetSuccess]
        case .unknown: return [.unknown]
        default: return [.callbackV2, .callbackV1]
        }
    }

    /// The product every payload of this shape is about, if the shape decides it.
    var fixedProduct: OkraProduct? {
        switch self {
        case .userEvent: return .user
        case .widgetEvent, .widgetSuccess: return .widget
        case .unknown: return .unknown
        case .callbackV1, .callbackV2: return nil
        }
    }

    /// The outcome every payload of this shape has, if the shape decides it.
    var fixedOutcome: OkraOutcome? {
        switch self {
        case .widgetEvent: return .event
        case .widgetSuccess: return .success
        case .unknown: return .unknown
        case .userEvent, .callbackV1, .callbackV2: return nil
        }
    }
}
