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

/// An ES256 key as an identity provider holds it: the public half goes into a JWKS under `kid`, tokens are
/// signed with the private half.
public struct TestECKey: Sendable {
    public let kid: String
    let privateKey = P256.Signing.PrivateKey()

    public init(kid: String) { self.kid = kid }

    /// The public key's x and y coordinates, 32 bytes each.
    public var publicKeyRaw: Data { privateKey.publicKey.rawRepresentation }

    /// The public key as a JWKS entry.
    public var jwk: String {
        let raw = publicKeyRaw
        let x = TestTokens.base64URL(raw.prefix(32)), y = TestTokens.base64URL(raw.suffix(32))
        return #"{"kty":"EC","crv":"P-256","kid":"\#(kid)","alg":"ES256","x":"\#(x)","y":"\#(y)"}"#
    }

    public static func jwks(_ keys: [TestECKey]) -> String { #"{"keys":[\#(keys.map(\.jwk).joined(separator: ","))]}"# }

    /// header.payload signed with this key, the header naming its kid.
    public func sign(claims: [String: Any]) -> String {
        let input = TestTokens.base64URL(TestTokens.json(["alg": "ES256", "kid": kid])) + "." + TestTokens.base64URL(TestTokens.json(claims))
        let signature = try! privateKey.signature(for: Data(input.utf8)).rawRepresentation
        return input + "." + TestTokens.base64URL(signature)
    }

    /// A valid token for `user` with `roles`.
    public func token(user: UUID, roles: [String], expiresIn: TimeInterval = 3600) -> String {
        sign(claims: ["sub": user.uuidString.lowercased(), "roles": roles, "exp": Int(Date().timeIntervalSince1970 + expiresIn)])
    }
}
