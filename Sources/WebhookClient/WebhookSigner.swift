import Crypto
import Foundation

/// Signatures in the Standard Webhooks form (https://www.standardwebhooks.com): the receiver recomputes
/// HMAC-SHA256 over `id.timestamp.body` with its secret and compares it with one of the `v1,` entries.
public enum WebhookSigner {
    /// `v1,<base64>` for each key, space-separated (two during a secret rotation).
    public static func signature(id: String, timestamp: Int64, body: [UInt8], keys: [[UInt8]]) -> String {
        var message = Array("\(id).\(timestamp).".utf8)
        message += body
        return keys.map { key in
            let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))
            return "v1," + Data(mac).base64EncodedString()
        }.joined(separator: " ")
    }

    /// Whether `header` carries a valid signature of the message for `key` (what a receiver does).
    public static func verify(header: String, id: String, timestamp: Int64, body: [UInt8], key: [UInt8]) -> Bool {
        let expected = signature(id: id, timestamp: timestamp, body: body, keys: [key])
        return header.split(separator: " ").contains { candidate in
            candidate.utf8.count == expected.utf8.count && zip(candidate.utf8, expected.utf8).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
        }
    }

    /// The headers of one attempt: the same `webhook-id` every time, the time of this attempt, its signature.
    public static func headers(id: String, timestamp: Int64, body: [UInt8], keys: [[UInt8]]) -> [(String, String)] {
        [
            ("webhook-id", id), ("webhook-timestamp", String(timestamp)),
            ("webhook-signature", signature(id: id, timestamp: timestamp, body: body, keys: keys)),
        ]
    }
}
