import Crypto
public import Foundation

/// Hand-built JWTs for tests, including malformed and hostile ones.
public enum TestTokens {
    public static let secret = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"

    public static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func json(_ object: [String: Any]) -> Data {
        try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// header.payload signed with HS256 over `secret` (whatever `alg` the header claims).
    public static func sign(header: [String: Any], claims: [String: Any], secret: String = secret) -> String {
        let input = base64URL(json(header)) + "." + base64URL(json(claims))
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return input + "." + base64URL(Data(mac))
    }

    /// A valid token for `user` with `roles`.
    public static func token(
        user: UUID, roles: [String], expiresIn: TimeInterval = 3600, extra: [String: Any] = [:], secret: String = secret
    ) -> String {
        var claims: [String: Any] = ["sub": user.uuidString.lowercased(), "roles": roles, "exp": Int(Date().timeIntervalSince1970 + expiresIn)]
        claims.merge(extra) { $1 }
        return sign(header: ["alg": "HS256", "typ": "JWT"], claims: claims, secret: secret)
    }
}
