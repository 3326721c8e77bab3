/// SHA-256 (FIPS 180-4), for the idempotency key. Foundation on Linux has no digest API and
/// this module depends on Foundation only.
public struct SHA256 {
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    /// The 32-byte digest of `message`.
    public static func hash(_ message: [UInt8]) -> [UInt8] {
        message.withUnsafeBufferPointer(hash)
    }

    /// The 32-byte digest of `message`.
    public static func hash(_ message: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var h: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
            (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
        let bitLength = UInt64(message.count) &* 8
        // Whole blocks straight from the message, then one or two padded tail blocks.
        let wholeBlocks = message.count / 64
        let tailCount = message.count - wholeBlocks * 64
        let tailBlocks = tailCount + 9 <= 64 ? 1 : 2
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { w in
            k.withUnsafeBufferPointer { k in
                do {
                    let bytes = message
                    for block in 0..<wholeBlocks {
                        compress(UnsafeBufferPointer(rebasing: bytes[block * 64..<block * 64 + 64]), &h, w, k)
                    }
                    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { tail in
                        tail.initialize(repeating: 0)
                        for i in 0..<tailCount { tail[i] = bytes[wholeBlocks * 64 + i] }
                        tail[tailCount] = 0x80
                        let end = tailBlocks * 64
                        for i in 0..<8 { tail[end - 1 - i] = UInt8(truncatingIfNeeded: bitLength >> UInt64(i * 8)) }
                        for block in 0..<tailBlocks {
                            compress(UnsafeBufferPointer(rebasing: tail[block * 64..<block * 64 + 64]), &h, w, k)
                        }
                    }
                }
            }
        }
        let words = [h.0, h.1, h.2, h.3, h.4, h.5, h.6, h.7]
        var digest = [UInt8]()
        digest.reserveCapacity(32)
        for word in words {
            digest.append(UInt8(truncatingIfNeeded: word >> 24))
            digest.append(UInt8(truncatingIfNeeded: word >> 16))
            digest.append(UInt8(truncatingIfNeeded: word >> 8))
            digest.append(UInt8(truncatingIfNeeded: word))
        }
        return digest
    }

    @inline(__always)
    private static func compress(
        _ block: UnsafeBufferPointer<UInt8>,
        _ h: inout (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32),
        _ w: UnsafeMutableBufferPointer<UInt32>,
        _ k: UnsafeBufferPointer<UInt32>
    ) {
        for i in 0..<16 {
            let b = i * 4
            w[i] = UInt32(block[b]) << 24 | UInt32(block[b + 1]) << 16 | UInt32(block[b + 2]) << 8 | UInt32(block[b + 3])
        }
        var (a, b, c, d, e, f, g, hh) = h
        // Eight rounds per pass with the working variables' roles rotated, so no round moves
        // them around. From round 16 on, W[t] is computed just before its round, in a ring of 16
        // words, so the schedule overlaps the rounds instead of running as one serial chain.
        var i = 0
        while i < 64 {
            round(a, b, c, &d, e, f, g, &hh, k[i] &+ word(i, w))
            round(hh, a, b, &c, d, e, f, &g, k[i + 1] &+ word(i + 1, w))
            round(g, hh, a, &b, c, d, e, &f, k[i + 2] &+ word(i + 2, w))
            round(f, g, hh, &a, b, c, d, &e, k[i + 3] &+ word(i + 3, w))
            round(e, f, g, &hh, a, b, c, &d, k[i + 4] &+ word(i + 4, w))
            round(d, e, f, &g, hh, a, b, &c, k[i + 5] &+ word(i + 5, w))
            round(c, d, e, &f, g, hh, a, &b, k[i + 6] &+ word(i + 6, w))
            round(b, c, d, &e, f, g, hh, &a, k[i + 7] &+ word(i + 7, w))
            i += 8
        }
        h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e, h.5 &+ f, h.6 &+ g, h.7 &+ hh)
    }

    /// The digest as lowercase hex.
    public static func hex(_ message: [UInt8]) -> String {
        let digest = hash(message)
        return String(unsafeUninitializedCapacity: 64) { text in
            for (index, byte) in digest.enumerated() {
                text[2 * index] = ByteWriter.hexDigit(byte >> 4)
                text[2 * index + 1] = ByteWriter.hexDigit(byte & 0xF)
            }
            return 64
        }
    }

    /// W[t] of the message schedule (FIPS 180-4 §6.2.2 step 1), kept in a ring of 16 words.
    @inline(__always)
    private static func word(_ t: Int, _ w: UnsafeMutableBufferPointer<UInt32>) -> UInt32 {
        guard t >= 16 else { return w[t] }
        let w15 = w[(t - 15) & 15]
        let w2 = w[(t - 2) & 15]
        let s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >> 3)
        let s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >> 10)
        let value = w[t & 15] &+ s0 &+ w[(t - 7) & 15] &+ s1
        w[t & 15] = value
        return value
    }

    /// One round of FIPS 180-4 §6.2.2 step 3, with `kw` = K[t] + W[t]: `d` becomes the new `e`
    /// and `h` the new `a`.
    @inline(__always)
    private static func round(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: inout UInt32,
                              _ e: UInt32, _ f: UInt32, _ g: UInt32, _ h: inout UInt32, _ kw: UInt32) {
        let t1 = h &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ kw
        let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
        d = d &+ t1
        h = t1 &+ t2
    }

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
}
