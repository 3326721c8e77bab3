import Crypto
import Foundation
import Synchronization

/// The event log's encryption at rest (§9, docs/privacy.md): AES-256-GCM over the bodies, the
/// record values and the record headers the store keeps, under the keys of `--log-key-file`.
/// The file's first key encrypts, every key decrypts, and each row keeps the id of the key its
/// values are sealed with (`key_id`), so a key is rotated by adding a new first line.
///
/// A sealed value is the nonce (12 bytes), the ciphertext and the tag (16 bytes); what the value
/// is (a body, a value, headers) is bound to it as authenticated data, so one cannot be passed
/// off as another. Nonces never repeat under one key: each is a random 8-byte prefix drawn when
/// the cipher is made and a 4-byte counter, and a new prefix is drawn before the counter wraps.
/// A nonce repeats only if two prefixes drawn for one key are equal: for P prefixes the chance is
/// below P²/2⁶⁵ (a million restarts, or 4·10¹⁵ values: below 3·10⁻⁸).
public final class StoreCipher: Sendable {
    /// What a sealed value is, bound to it as authenticated data.
    enum Purpose: String {
        case body, value, headers

        /// Made once: a value is sealed or opened several times a webhook. Arrays, not `Data`:
        /// swift-crypto copies a `Data` of more than 14 bytes each time it reads it.
        private static let bodyData = Array("okra-bridge/body".utf8), valueData = Array("okra-bridge/value".utf8),
                           headersData = Array("okra-bridge/headers".utf8)
        var authenticatedData: [UInt8] {
            switch self {
            case .body: Self.bodyData
            case .value: Self.valueData
            case .headers: Self.headersData
            }
        }
    }

    /// The id of the key that seals new values (the file's first).
    public let currentKeyID: String
    /// Every key's id, in the file's order.
    public let keyIDs: [String]
    private let keys: [String: SymmetricKey]
    private let nonces: Mutex<(prefix: UInt64, counter: UInt32)>

    /// A cipher with `keys` (id and 32 bytes each), the first sealing.
    public init(keys: [(id: String, bytes: [UInt8])]) throws(KeyFileError) {
        guard let first = keys.first else { throw KeyFileError("no keys") }
        var table: [String: SymmetricKey] = [:]
        for key in keys {
            guard key.bytes.count == 32 else { throw KeyFileError("\(key.id): a key is 32 bytes, this one is \(key.bytes.count)") }
            guard table[key.id] == nil else { throw KeyFileError("\(key.id): the id is given twice") }
            table[key.id] = SymmetricKey(data: key.bytes)
        }
        currentKeyID = first.id
        keyIDs = keys.map(\.id)
        self.keys = table
        nonces = Mutex((UInt64.random(in: .min ... .max), 0))
    }

    /// The keys of a key file: `ID=BASE64` a line (ID letters, digits, `.`, `-` and `_`; the
    /// base64 of 32 bytes), blank lines and `#` comments ignored. Errors name the file and the
    /// line, never a key.
    public static func read(file path: String) throws(KeyFileError) -> StoreCipher {
        guard let data = FileManager.default.contents(atPath: path) else { throw KeyFileError("\(path): cannot read the file (missing or not readable)") }
        var keys: [(id: String, bytes: [UInt8])] = []
        var lines: [String: Int] = [:]
        // No message quotes the line, not even the id: a key pasted alone reads as an id.
        for (index, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "="), equals != line.startIndex else {
                throw KeyFileError("\(path):\(index + 1): takes ID=BASE64 (the line is not shown)")
            }
            let id = String(line[..<equals])
            guard id.utf8.count <= 64, id.utf8.allSatisfy({ isIDByte($0) }) else {
                throw KeyFileError("\(path):\(index + 1): a key id is 1 to 64 letters, digits, '.', '-' or '_' (the line is not shown)")
            }
            guard let bytes = Data(base64Encoded: String(line[line.index(after: equals)...])), bytes.count == 32 else {
                throw KeyFileError("\(path):\(index + 1): the key must be the base64 of 32 bytes, e.g. from openssl rand -base64 32 (the line is not shown)")
            }
            if let first = lines[id] { throw KeyFileError("\(path):\(index + 1): the id of line \(first) again") }
            lines[id] = index + 1
            keys.append((id, Array(bytes)))
        }
        guard !keys.isEmpty else { throw KeyFileError("\(path): no keys; the file needs at least one ID=BASE64 line") }
        do {
            return try StoreCipher(keys: keys)
        } catch {
            throw KeyFileError("\(path): \(error.description)")
        }
    }

    private static func isIDByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }

    /// Moves the counter to `value`, so a test reaches its wrap without sealing 2³² values.
    func setNonceCounterForTesting(_ value: UInt32) {
        nonces.withLock { $0.counter = value }
    }

    /// A fresh nonce (see the type's comment).
    private func nextNonce() -> AES.GCM.Nonce {
        let (prefix, counter) = nonces.withLock { state -> (UInt64, UInt32) in
            if state.counter == .max {
                state.prefix = UInt64.random(in: .min ... .max)
                state.counter = 0
            }
            state.counter += 1
            return (state.prefix, state.counter)
        }
        // On the stack: twelve bytes, the prefix then the counter, both big-endian.
        let bytes = (prefix.bigEndian, counter.bigEndian)
        return withUnsafeBytes(of: bytes) { try! AES.GCM.Nonce(data: $0) }
    }

    /// `plaintext` sealed under the key `keyID` (the current one when nil).
    func seal(_ plaintext: some DataProtocol, _ purpose: Purpose, keyID: String? = nil) throws(StoreCipherFailure) -> Data {
        guard let key = keys[keyID ?? currentKeyID] else { throw StoreCipherFailure.missingKey(keyID ?? currentKeyID) }
        do {
            return try AES.GCM.seal(plaintext, using: key, nonce: nextNonce(), authenticating: purpose.authenticatedData).combined!
        } catch {
            throw StoreCipherFailure.sealing("\(error)")
        }
    }

    /// The plaintext of a value sealed under `keyID`.
    func open(_ sealed: some DataProtocol, _ purpose: Purpose, keyID: String) throws(StoreCipherFailure) -> [UInt8] {
        guard let key = keys[keyID] else { throw StoreCipherFailure.missingKey(keyID) }
        do {
            return Array(try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key, authenticating: purpose.authenticatedData))
        } catch {
            throw StoreCipherFailure.notAuthentic(keyID: keyID, purpose: purpose.rawValue)
        }
    }
}

/// A key file that cannot be used: what is wrong and where, never a key.
public struct KeyFileError: Error, CustomStringConvertible {
    /// What is wrong, naming the file and the line.
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A value the store could not seal or open.
public enum StoreCipherFailure: Error, CustomStringConvertible {
    /// A row is sealed under a key the key file does not hold.
    case missingKey(String)
    /// The value is not what was sealed under that key (another key with the same id, or the file changed).
    case notAuthentic(keyID: String, purpose: String)
    /// Sealing failed.
    case sealing(String)

    /// One line, naming the key id, never a key.
    public var description: String {
        switch self {
        case .missingKey(let id): "a stored value is sealed under key \(id), which --log-key-file does not hold"
        case .notAuthentic(let id, let purpose): "a stored \(purpose) does not open under key \(id): another key with that id, or the file was changed"
        case .sealing(let error): "sealing a value failed: \(error)"
        }
    }
}
