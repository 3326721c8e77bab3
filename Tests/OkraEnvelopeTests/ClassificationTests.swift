import Foundation
import OkraEnvelope
import Testing

/// Codes, statuses and fields from Okra's docs, one row each.
@Suite("Classification")
struct ClassificationTests {
    static let codes: [(String, String)] = [
        ("AUTH_SUCCESS", "success"), ("AUTH_SUCCES", "success"), ("AUTH_FAILED", "failed"),
        ("IDENTITY_IS_READY", "success"), ("ACCOUNTS_SUCCESS", "success"), ("ACCOUNTS_FAILED", "failed"),
        ("BALANCE_SUCCESS", "success"), ("BALANCE_FAILED", "failed"), ("INITIAL_BALANCE", "success"),
        ("PERIODIC_BALANCE", "success"), ("BALANCE_DELETED", "deleted"),
        ("PAYMENT_SUCCESS", "success"), ("PAYMENT_FAILED", "failed"), ("PAYMENT_CANCELLED", "cancelled"),
        ("TRANSACTIONS_IS_READY", "success"), ("TRANSACTIONS_FAILED", "failed"), ("INITIAL_TRANSACTIONS", "success"),
        ("FULL_TRANSACTIONS", "success"), ("PERIODIC_TRANSACTIONS", "success"), ("TRANSACTIONS_DELETED", "deleted"),
        ("INCOME_IS_READY", "success"), ("INCOME_FAILED", "failed"), ("PRODUCT_IS_READY", "success"),
        ("PDOCUT_IS_READY", "success"), ("WEBHOOK_UPDATE_ACKNOWLEDGED", "updated"), ("ERROR", "failed"),
        ("USER_DISCONNECT", "disconnected"), ("USER_REAUTH", "reauth_required"),
    ]

    @Test("each documented code has its outcome", arguments: codes)
    func codeOutcome(_ code: String, _ outcome: String) {
        #expect(Normalizer.outcome(code: code, status: nil).rawValue == outcome)
        // The code decides even when the status disagrees.
        #expect(Normalizer.outcome(code: code, status: "is_cancelled").rawValue == outcome)
    }

    @Test("the status decides when the code says nothing", arguments: [("is_success", "success"), ("is_failed", "failed"), ("is_cancelled", "cancelled"), ("pending", "unknown")])
    func statusOutcome(_ status: String, _ outcome: String) {
        #expect(Normalizer.outcome(code: "SOMETHING_NEW", status: status).rawValue == outcome)
        #expect(Normalizer.outcome(code: nil, status: status).rawValue == outcome)
    }

    @Test("every callback product with every documented code and status gives a (product, outcome) pair of the vocabulary's table; one outside it gives unknown")
    func pairsStayInTheTable() throws {
        let table = Dictionary(uniqueKeysWithValues: OkraVocabulary.outcomesByProduct.map { ($0.product, Set($0.outcomes)) })
        var seen: Set<String> = []
        for (callbackType, _) in Self.products {
            for code in Self.codes.map(\.0) + ["SOMETHING_NEW"] {
                for status in ["is_success", "is_failed", "is_cancelled", "pending"] {
                    let body = #"{"callback_type":"\#(callbackType)","callback_code":"\#(code)","status":"\#(status)","record":"r"}"#
                    let event = try Normalizer.normalize(Array(body.utf8), receivedAt: Date()).get()
                    #expect(table[event.product]?.contains(event.outcome) == true, "\(callbackType) \(code) \(status): \(event.product) \(event.outcome)")
                    seen.insert("\(event.product).\(event.outcome)")
                }
            }
        }
        // The table is not a catch-all: outcomes a product does not have become unknown.
        #expect(seen.contains("payment.cancelled") && seen.contains("transactions.deleted") && seen.contains("auth.unknown"))
        #expect(!seen.contains("payment.disconnected") && !seen.contains("auth.cancelled"))
    }

    static let products: [(String, String)] = [
        ("AUTH", "auth"), ("IDENTITY", "identity"), ("ACCOUNTS", "accounts"), ("BALANCE", "balance"),
        ("PERIODIC_BALANCE", "balance"), ("TRANSACTIONS", "transactions"), ("PERIODIC_TRANSACTIONS", "transactions"),
        ("INCOME", "income"), ("PAYMENT", "payment"), ("PAYMENT_RECURRING", "payment"), ("RECORD", "record"),
        ("SOMETHING_NEW", "unknown"),
    ]

    @Test("callback_type and method name the product", arguments: products)
    func productFromCallbackType(_ callbackType: String, _ product: String) throws {
        let v1 = try normalize(#"{"callback_type":"\#(callbackType)","callback_code":"X_SUCCESS","record":"r"}"#)
        #expect(v1.product.rawValue == product)
        let v2 = try normalize(#"{"type":"CALLBACK","method":"\#(callbackType)","code":"X_SUCCESS","env":"production"}"#)
        #expect(v2.product.rawValue == product)
    }

    @Test("environments: production, production-sandbox as sandbox, anything else unknown")
    func environments() throws {
        #expect(try normalize(#"{"type":"CALLBACK","method":"AUTH","code":"AUTH_SUCCESS","env":"production"}"#).source == "okra/production")
        #expect(try normalize(#"{"type":"CALLBACK","method":"AUTH","code":"AUTH_SUCCESS","env":"production-sandbox"}"#).environment == .sandbox)
        #expect(try normalize(#"{"type":"CALLBACK","method":"AUTH","code":"AUTH_SUCCESS","env":"staging"}"#).source == "okra/unknown")
    }

    @Test("absent and empty fields are left out, never null or empty")
    func absentFields() throws {
        let event = try normalize(#"{"callback_type":"AUTH","callback_code":"AUTH_SUCCESS","record":"","customerId":null,"ended_at":"not a time"}"#)
        #expect(event.record == nil && event.customer == nil && event.subject == nil && event.time == nil)
        let names = event.attributes.map(\.name)
        #expect(!names.contains("subject") && !names.contains("time") && !names.contains("okrarecord"))
        #expect(event.attributes.allSatisfy { !$0.value.isEmpty })
    }

    @Test("time falls back from ended_at to started_at")
    func timeFallback() throws {
        let event = try normalize(#"{"callback_type":"AUTH","callback_code":"AUTH_SUCCESS","ended_at":null,"started_at":"2021-01-15T13:14:38.359Z"}"#)
        #expect(event.time == "2021-01-15T13:14:38.359Z")
    }

    @Test("recordedtime is the receive time in UTC with milliseconds")
    func recordedTime() throws {
        let event = try Normalizer.normalize(Array("{}".utf8), receivedAt: Date(timeIntervalSince1970: 1_700_000_000.1234)).get()
        #expect(event.recordedTime == "2023-11-14T22:13:20.123Z")
    }

    @Test("a body that is JSON but not an object is rejected as not-an-object", arguments: ["[]", "\"text\"", "42", "null", "true"])
    func notAnObject(_ body: String) {
        guard case .failure(let rejection) = Normalizer.normalize(Array(body.utf8), receivedAt: Date()) else {
            Issue.record("accepted \(body)")
            return
        }
        #expect(rejection.reason == .notAnObject)
    }

    func normalize(_ text: String) throws -> CanonicalEvent {
        try Normalizer.normalize(Array(text.utf8), receivedAt: Fixtures.receivedAt).get()
    }
}
