/// Everything the normalizer knows about Okra, as data. Adding Okra's next product, code or
/// field location is a line in one of these tables.
public enum OkraVocabulary {
    /// `callback_type` / `method` values and the product they mean.
    static let productByCallbackType: [String: OkraProduct] = [
        "AUTH": .auth,
        "IDENTITY": .identity,
        "ACCOUNTS": .accounts,
        "BALANCE": .balance,
        "PERIODIC_BALANCE": .balance,
        "TRANSACTIONS": .transactions,
        "PERIODIC_TRANSACTIONS": .transactions,
        "INCOME": .income,
        "PAYMENT": .payment,
        "PAYMENT_RECURRING": .payment,
        "RECORD": .record,
    ]

    /// Where a callback names its product, in order of preference.
    static let productFields: [JSONPath] = ["callback_type", "method"]

    /// Where the code is, in order: `okracode` is the first present.
    static let codeFields: [JSONPath] = ["callback_code", "code", "event", "event_name"]

    /// How a code maps to an outcome. Tried in order; the first rule that matches wins.
    static let outcomeRules: [(CodePattern, OkraOutcome)] = [
        (.exact("WEBHOOK_UPDATE_ACKNOWLEDGED"), .updated),
        (.exact("USER_DISCONNECT"), .disconnected),
        (.exact("USER_REAUTH"), .reauthRequired),
        (.exact("ERROR"), .failed),
        (.exact("PRODUCT_IS_READY"), .success),
        (.exact("PDOCUT_IS_READY"), .success),      // sic: Okra's v1 docs
        (.suffix("_SUCCESS"), .success),
        (.suffix("_SUCCES"), .success),             // sic: AUTH_SUCCES in Okra's event table
        (.suffix("_IS_READY"), .success),
        (.suffix("_FAILED"), .failed),
        (.suffix("_CANCELLED"), .cancelled),
        (.suffix("_DELETED"), .deleted),
        (.prefix("INITIAL_"), .success),
        (.prefix("FULL_"), .success),
        (.prefix("PERIODIC_"), .success),
    ]

    /// `status` values used when the code says nothing.
    static let outcomeByStatus: [String: OkraOutcome] = [
        "is_success": .success,
        "is_failed": .failed,
        "is_cancelled": .cancelled,
    ]

    /// The outcomes of each product: every (product, outcome) pair the normalizer emits is one of
    /// these. A code or status that would give a product an outcome not listed (a payment
    /// "disconnected", an AUTH callback "is_cancelled") gives `unknown` instead, so the topics
    /// a routes file can produce are a short, known list (`okra-bridge topics plan`), not every
    /// product times every outcome. Okra's pages and the corpus name these pairs; `failed` is
    /// every callback product's (v1's `ERROR` code), and `unknown` every product's.
    public static let outcomesByProduct: [(product: OkraProduct, outcomes: [OkraOutcome])] = [
        (.auth, [.success, .failed, .unknown]),
        (.identity, [.success, .failed, .unknown]),
        (.accounts, [.success, .failed, .unknown]),
        (.balance, [.success, .failed, .deleted, .unknown]),
        (.transactions, [.success, .failed, .deleted, .unknown]),
        (.income, [.success, .failed, .unknown]),
        (.payment, [.success, .failed, .cancelled, .unknown]),
        (.record, [.success, .failed, .updated, .unknown]),
        (.user, [.disconnected, .reauthRequired, .unknown]),
        (.widget, [.event, .success]),
        (.unknown, [.unknown]),
    ]

    /// ``outcomesByProduct`` as a lookup.
    static let outcomeSets: [OkraProduct: Set<OkraOutcome>] = Dictionary(uniqueKeysWithValues: outcomesByProduct.map { ($0.product, Set($0.outcomes)) })

    /// `outcome` when `product` has it, else `unknown`.
    static func outcome(_ outcome: OkraOutcome, of product: OkraProduct) -> OkraOutcome {
        outcomeSets[product]?.contains(outcome) == true ? outcome : .unknown
    }

    /// `env` values and the environment they mean.
    static let environmentByValue: [String: OkraEnvironment] = [
        "production": .production,
        "production-sandbox": .sandbox,
        "sandbox": .sandbox,
    ]

    /// Where the environment is, in order (the top level first, then product objects).
    static let environmentPaths: [JSONPath] = ["env", "identity.env", "account.env", "balance.env", "payment.env"]

    /// Where each id lives, in order of preference; the first non-empty string wins.
    static let recordPaths: [JSONPath] = ["record", "recordId", "record_id"]
    static let customerPaths: [JSONPath] = ["customerId", "customer_id", "data.customer", "identity.customer", "payment.customer"]
    static let accountPaths: [JSONPath] = ["accountId", "account_id", "account._id"]
    static let bankPaths: [JSONPath] = ["bankSlug", "auth.bank_details.slug"]

    /// Where the time of the event is, in order; the first valid RFC 3339 timestamp wins.
    static let timePaths: [JSONPath] = ["ended_at", "started_at", "data.disconnected_at", "data.deauthorized_at", "disconnected_at", "deauthorized_at", "event_time"]

    /// A pattern over a code.
    enum CodePattern {
        case exact(String)
        case prefix(String)
        case suffix(String)

        func matches(_ code: String) -> Bool {
            switch self {
            case .exact(let text): return code == text
            case .prefix(let text): return code.hasPrefix(text)
            case .suffix(let text): return code.hasSuffix(text)
            }
        }
    }
}
