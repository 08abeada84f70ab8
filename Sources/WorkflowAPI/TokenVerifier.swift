public import Foundation
import Synchronization
import JWTKit
public import Workflows
import TextCoding

/// Why a bearer token was refused. The text is safe to show the client (it never echoes the token).
public struct AuthenticationError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

public struct TokenVerifierConfiguration: Sendable {
    /// HS256 shared secret (at least 32 bytes).
    public var hmacSecret: String
    /// Contents of a JWKS document with RS256/ES256 public keys, each with a `kid`.
    public var jwksJSON: String?
    public var issuer: String?
    public var audience: String?
    /// Clock skew tolerated for `exp` and `nbf`.
    public var leeway: TimeInterval = 60
    /// Larger tokens are refused before any parsing.
    public var maxTokenBytes = 8192

    public init(hmacSecret: String, jwksJSON: String? = nil, issuer: String? = nil, audience: String? = nil) {
        self.hmacSecret = hmacSecret
        self.jwksJSON = jwksJSON
        self.issuer = issuer
        self.audience = audience
    }
}

/// The claims workflowd reads. `exp` is required; roles come from `roles` or `role`.
struct WorkflowClaims: JWTPayload {
    var sub: SubjectClaim?
    var exp: ExpirationClaim?
    var nbf: NotBeforeClaim?
    var iss: IssuerClaim?
    var aud: AudienceClaim?
    var roles: [String]?
    var role: OneOrMany?

    /// Verification is done synchronously by `TokenVerifier`; jwt-kit's async hook is not used.
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    enum OneOrMany: Codable, Equatable {
        case one(String)
        case many([String])
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) { self = .one(one) } else { self = .many(try container.decode([String].self)) }
        }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .one(let value): try container.encode(value)
            case .many(let values): try container.encode(values)
            }
        }
        var values: [String] {
            switch self {
            case .one(let value): return [value]
            case .many(let values): return values
            }
        }
    }
}

/// Verifies bearer JWTs synchronously on the request thread (jwt-kit's parser and algorithms, keys
/// resolved once at startup), following RFC 8725: the key decides the algorithm, never the token.
public final class TokenVerifier: Sendable {
    struct Key: Sendable {
        let algorithmName: String
        let algorithm: any JWTAlgorithm
    }

    let configuration: TokenVerifierConfiguration
    /// The HS256 key, used for tokens without a `kid`.
    let defaultKey: Key
    /// JWKS keys by `kid`.
    let keysByID: [String: Key]
    let parser = DefaultJWTParser()

    public static func make(configuration: TokenVerifierConfiguration) async throws -> TokenVerifier {
        guard configuration.hmacSecret.utf8.count >= 32 else {
            throw AuthenticationError("WORKFLOWD_JWT_SECRET must be at least 32 bytes long")
        }
        let collection = JWTKeyCollection()
        await collection.add(hmac: HMACKey(from: configuration.hmacSecret), digestAlgorithm: .sha256)
        let defaultKey = Key(algorithmName: "HS256", algorithm: try await collection.getKey())
        var keys: [String: Key] = [:]
        if let json = configuration.jwksJSON {
            let jwks = try JSONDecoder().decode(JWKS.self, from: Data(json.utf8))
            for jwk in jwks.keys {
                guard let kid = jwk.keyIdentifier?.string else { throw AuthenticationError("every JWKS key needs a kid") }
                let name = try Self.algorithmName(of: jwk)
                try await collection.add(jwk: jwk)
                keys[kid] = Key(algorithmName: name, algorithm: try await collection.getKey(for: jwk.keyIdentifier, alg: name))
            }
        }
        return TokenVerifier(configuration: configuration, defaultKey: defaultKey, keysByID: keys)
    }

    init(configuration: TokenVerifierConfiguration, defaultKey: Key, keysByID: [String: Key]) {
        self.configuration = configuration
        self.defaultKey = defaultKey
        self.keysByID = keysByID
    }

    /// RS256 or ES256 only; the JWK's `alg` must agree with its key type when given.
    static func algorithmName(of jwk: JWK) throws -> String {
        let expected: String
        switch jwk.keyType {
        case .rsa: expected = "RS256"
        case .ecdsa: expected = "ES256"
        default: throw AuthenticationError("JWKS keys must be RSA (RS256) or EC P-256 (ES256)")
        }
        if let alg = jwk.algorithm?.rawValue, alg != expected {
            throw AuthenticationError("JWKS key \(jwk.keyIdentifier?.string ?? "?") has alg \(alg); only \(expected) is accepted for its key type")
        }
        return expected
    }

    /// Verifies an `Authorization` header value and returns the caller.
    public func principal(fromAuthorization header: String?, now: Date = Date()) throws(AuthenticationError) -> Principal {
        try verifiedToken(fromAuthorization: header, now: now).principal
    }

    /// The caller and when its token expires (a stream held open for it ends then).
    func verifiedToken(fromAuthorization header: String?, now: Date = Date()) throws(AuthenticationError) -> VerifiedToken {
        guard let header, !header.isEmpty else { throw AuthenticationError("Missing bearer token: send Authorization: Bearer <JWT>.") }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw AuthenticationError("The Authorization header must use the Bearer scheme.")
        }
        return try verifiedToken(String(header.dropFirst(7).trimmingHTTPWhitespace()), now: now)
    }

    /// Tokens verified before, with their time window: a client sends the same token with every request,
    /// and verifying it (two JSON decodes and an HMAC or signature check) is a fifth of a read's CPU.
    /// Only exact token strings that passed every check are kept; the time checks are redone on each hit.
    private let verified = Mutex<[CacheKey: VerifiedToken]>([:])
    static let cacheLimit = 10_000

    /// A token with its hash computed before the lock is taken: the workers share one cache, and hashing
    /// a few hundred bytes inside the lock made them queue for it.
    struct CacheKey: Hashable {
        let token: String
        let hash: Int
        init(_ token: String) {
            self.token = token
            hash = token.hashValue
        }
        func hash(into hasher: inout Hasher) { hasher.combine(hash) }
        static func == (a: CacheKey, b: CacheKey) -> Bool { a.hash == b.hash && a.token == b.token }
    }

    struct VerifiedToken {
        let principal: Principal
        let expires: Date
        let notBefore: Date?
    }

    func principal(fromToken token: String, now: Date) throws(AuthenticationError) -> Principal {
        try verifiedToken(token, now: now).principal
    }

    private func verifiedToken(_ token: String, now: Date) throws(AuthenticationError) -> VerifiedToken {
        let key = CacheKey(token)
        if let hit = verified.withLock({ $0[key] }) {
            try checkTimes(expires: hit.expires, notBefore: hit.notBefore, now: now)
            return hit
        }
        let (principal, claims) = try verify(token, now: now)
        // `verify` refuses a token without exp.
        let found = VerifiedToken(principal: principal, expires: claims.exp?.value ?? now, notBefore: claims.nbf?.value)
        verified.withLock { cache in
            if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[key] = found
        }
        return found
    }

    private func checkTimes(expires: Date, notBefore: Date?, now: Date) throws(AuthenticationError) {
        guard expires.timeIntervalSince(now) > -configuration.leeway else { throw AuthenticationError("The token has expired.") }
        if let notBefore, notBefore.timeIntervalSince(now) > configuration.leeway {
            throw AuthenticationError("The token is not valid yet (nbf).")
        }
    }

    private func verify(_ token: String, now: Date) throws(AuthenticationError) -> (Principal, WorkflowClaims) {
        let bytes = Array(token.utf8)
        guard bytes.count <= configuration.maxTokenBytes else { throw AuthenticationError("The token is larger than 8 KiB.") }
        guard bytes.count(where: { $0 == UInt8(ascii: ".") }) == 2 else {
            throw AuthenticationError("The token is not a compact JWS (three dot-separated parts).")
        }
        let header: JWTHeader
        let claims: WorkflowClaims
        let signature: Data
        do {
            (header, claims, signature) = try parser.parse(bytes, as: WorkflowClaims.self)
        } catch {
            throw AuthenticationError("The token is malformed or its claims have the wrong types.")
        }
        let key = try key(for: header)
        let signingInput = bytes[..<bytes.lastIndex(of: UInt8(ascii: "."))!]
        let valid = (try? key.algorithm.verify(signature, signs: signingInput)) ?? false
        guard valid else { throw AuthenticationError("The token's signature is not valid.") }
        return (try principal(from: claims, now: now), claims)
    }

    /// Picks the key by `kid` (or the HS256 key without one) and insists the token's `alg` is that key's.
    private func key(for header: JWTHeader) throws(AuthenticationError) -> Key {
        if let crit = header.crit, !crit.isEmpty {
            throw AuthenticationError("The token names critical header extensions (crit) that are not supported.")
        }
        for field in ["jku", "x5u", "jwk", "x5c"] where header.fields[field] != nil {
            throw AuthenticationError("Tokens carrying a \(field) header are not accepted.")
        }
        guard let alg = header.alg else { throw AuthenticationError("The token header has no alg.") }
        let key: Key
        if let kid = header.kid {
            guard let found = keysByID[kid] else { throw AuthenticationError("The token's kid names no known key.") }
            key = found
        } else {
            key = defaultKey
        }
        guard alg == key.algorithmName else {
            throw AuthenticationError("The token's alg \(alg.prefix(16)) does not match its key (\(key.algorithmName)).")
        }
        return key
    }

    private func principal(from claims: WorkflowClaims, now: Date) throws(AuthenticationError) -> Principal {
        guard let exp = claims.exp else { throw AuthenticationError("The token has no exp claim.") }
        try checkTimes(expires: exp.value, notBefore: claims.nbf?.value, now: now)
        if let issuer = configuration.issuer, claims.iss?.value != issuer {
            throw AuthenticationError("The token's issuer is not accepted.")
        }
        if let audience = configuration.audience, !(claims.aud?.value.contains(audience) ?? false) {
            throw AuthenticationError("The token is not meant for this audience.")
        }
        guard let subject = claims.sub?.value, let userId = UUID(text: subject) else {
            throw AuthenticationError("The token's sub must be a UUID.")
        }
        let names = (claims.roles ?? []) + (claims.role?.values ?? [])
        return Principal(userId: userId, roles: Set(names.compactMap(Role.init(rawValue:))))
    }
}

/// Mints HS256 tokens with the shared secret (for `workflowd token`, tests and ops).
public enum TokenMinter {
    public static func mint(secret: String, subject: UUID, roles: [Role], ttl: TimeInterval, now: Date = Date()) async throws -> String {
        let collection = JWTKeyCollection()
        await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let claims = WorkflowClaims(
            sub: SubjectClaim(value: subject.lowercaseText), exp: ExpirationClaim(value: now.addingTimeInterval(ttl)),
            nbf: nil, iss: nil, aud: nil, roles: roles.map(\.rawValue), role: nil)
        return try await collection.sign(claims)
    }
}
