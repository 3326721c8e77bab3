/// The personal data in Okra's payloads, and its masking (§9's redaction): the one list of the
/// keys that hold it, matched wherever they occur in a payload, whatever the nesting. Okra's
/// spellings come from its pages (../shared/seeds) and from the deliveries and API answers in
/// ../shared/okra-corpus; a key is compared lowercased with `_` and `-` removed, so
/// `customerBvn`, `customer_bvn` and `CustomerBVN` are one key.
///
/// Not on the list, and visible to every scope: Okra's own ids (record, customer, account, bank,
/// the `_id`s), states, codes, times, amounts and currencies, and bank names. The envelope's
/// attributes are all of that kind (its ids, product, outcome, codes, times): none is masked.
public enum PersonalData {
    /// How a personal value is shown to a token without `read-pii`.
    public enum Masking: Sendable, Equatable {
        /// `"***"`.
        case whole
        /// `"***"` and the last 4 characters (account numbers, so a person can tell two apart).
        case keepLast4
    }

    /// The keys (normalized: lowercase, without `_` and `-`) and how each is masked.
    public static let keys: [String: Masking] = {
        var keys: [String: Masking] = [:]
        let whole = [
            // Identity numbers.
            "bvn", "customerbvn", "nin", "customernin",
            // Names.
            "name", "fullname", "firstname", "lastname", "middlename", "customername", "accountname", "destaccname", "aliases",
            "nextofkins", "nextofkin", "employer",
            // Contact.
            "phone", "phonenumber", "phones", "customerphone", "mobilenumber", "email", "emails", "customeremail",
            // Birth, status and standing (a BVN on a watch list, the account's KYC level).
            "dob", "dateofbirth", "birthdate", "gender", "maritalstatus", "nationality", "watchlisted", "levelofaccount",
            // Where a person lives or comes from (`lga_of_residenc` is spelt so on one of Okra's pages).
            "address", "addresses", "stateoforigin", "stateofresidence", "lgaoforigin", "lgaofresidence", "lgaofresidenc",
            // The BVN enrollment: branch and registration date.
            "enrollment", "branch", "registrationdate", "enrollmentbank", "enrollmentbranch",
            // Photos.
            "photoid", "photo", "photourl", "image",
        ]
        for key in whole { keys[key] = .whole }
        for key in ["nuban", "accountnumber", "accountno", "customeraccountnumber", "destaccnum", "destaccountnumber", "sourceaccountnumber"] {
            keys[key] = .keepLast4
        }
        return keys
    }()

    /// How the value of `key` is masked, or nil when it is not personal data.
    public static func masking(ofKey key: String) -> Masking? {
        var normalized = ""
        normalized.reserveCapacity(key.utf8.count)
        for scalar in key.unicodeScalars where scalar != "_" && scalar != "-" {
            normalized.unicodeScalars.append(contentsOf: String(scalar).lowercased().unicodeScalars)
        }
        return keys[normalized]
    }

    /// The mask of one value: `null` stays `null` (absence tells nothing), anything else becomes
    /// a string.
    static func mask(_ value: JSONValue, _ masking: Masking) -> JSONValue {
        switch (value, masking) {
        case (.null, _): return .null
        case (.string(let text), .keepLast4) where text.count > 4: return .string("***" + text.suffix(4))
        case (.number(let lexeme), .keepLast4) where lexeme.count > 4: return .string("***" + lexeme.suffix(4))
        default: return .string("***")
        }
    }

    /// `value` with every personal member masked, wherever it is.
    public static func redacting(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            return .object(members.map { member in
                if let masking = masking(ofKey: member.key) { return JSONMember(key: member.key, value: mask(member.value, masking)) }
                return JSONMember(key: member.key, value: redacting(member.value))
            })
        case .array(let elements):
            return .array(elements.map(redacting))
        default:
            return value
        }
    }

    /// A JSON payload with every personal member masked, on one line; nil when `json` does not
    /// parse (the caller withholds it then: it cannot be masked by key).
    public static func redacting(json: [UInt8]) -> [UInt8]? {
        guard let parsed = try? JSONParser.parse(json).value else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(json.count)
        JSONWriter.compact(redacting(parsed), into: &output)
        return output
    }
}

extension CanonicalEvent {
    /// The event with its `data` masked (``PersonalData``), on one line: what a token without
    /// `read-pii` is shown. Its attributes are Okra ids, codes and times, unmasked.
    public func redactedOneLineJSONBytes() -> [UInt8] {
        var event = self
        event.data = PersonalData.redacting(json: data) ?? Array(#""***""#.utf8)
        return event.oneLineJSONBytes()
    }
}
