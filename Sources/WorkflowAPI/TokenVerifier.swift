public import Foundation
import Locking
import Synchronization
import Crypto
import JWTKit
public import Workflows
import TextCoding

/// Why a bearer token was refused. The text is safe to show the client (it never echoes the token).
public struct AuthenticationError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// What the verifier checks besides the signature, and the keys it starts with (a reload replaces only the keys).
public struct TokenVerifierConfiguration: Sendable {
    public var keys: TokenKeyMaterial
    public var issuer: String?
    public var audience: String?
    /// Clock skew tolerated for `exp` and `nbf`.
    public var leeway: TimeInterval = 60
    /// Larger tokens are refused before any parsing.
    public var maxTokenBytes = 8192

    public init(keys: TokenKeyMaterial, issuer: String? = nil, audience: String? = nil) {
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
    }

    /// One HS256 secret (at least 32 bytes) and optionally a JWKS document with RS256/ES256 public keys.
    public init(hmacSecret: String, jwksJSON: String? = nil, issuer: String? = nil, audience: String? = nil) {
        self.init(keys: TokenKeyMaterial(hmacSecrets: [hmacSecret], jwksJSON: jwksJSON), issuer: issuer, audience: audience)
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
/// resolved when they are loaded), following RFC 8725: the key decides the algorithm, never the token.
///
/// The keys can be replaced while requests are served (`reload`): the set in use is an immutable value
/// swapped under the same lock as the token cache, so a request sees either the old set or the new one,
/// never a mix, and a swap costs a request nothing more than the cache lookup it already does.
public final class TokenVerifier: Sendable {
    struct Key: Sendable {
        let algorithmName: String
        let algorithm: any JWTAlgorithm
    }

    /// The keys of one load, never changed after it: tokens without a `kid` are tried against each HS256
    /// secret (current first, then previous), tokens with one against the JWKS key of that `kid`.
    final class KeySet: Sendable {
        let hmacKeys: [Key]
        let keysByID: [String: Key]
        /// What an operator sees in the log: `hs256:` and the start of each secret's SHA-256, then the kids.
        let identifiers: [String]
        /// The stream-ticket keys of the HS256 secrets, in the same order.
        let ticketKeys: [SymmetricKey]

        init(hmacKeys: [Key], keysByID: [String: Key], identifiers: [String], ticketKeys: [SymmetricKey]) {
            self.hmacKeys = hmacKeys
            self.keysByID = keysByID
            self.identifiers = identifiers
            self.ticketKeys = ticketKeys
        }
    }

    /// The keys in use and the tokens they verified, under one lock: a token verified with keys that a
    /// reload has since replaced must not be served from the cache.
    struct State {
        var keys: KeySet
        /// The `reload` call these keys came from; a slower earlier call must not overwrite a later one.
        var ticket: UInt64 = 0
        var cache = TokenCache()
    }

    let configuration: TokenVerifierConfiguration
    private let state: Locked<State>
    private let reloadTickets = Atomic<UInt64>(0)
    let parser = DefaultJWTParser()

    public static func make(configuration: TokenVerifierConfiguration) async throws(TokenKeyError) -> TokenVerifier {
        TokenVerifier(configuration: configuration, keys: try await keySet(from: configuration.keys))
    }

    init(configuration: TokenVerifierConfiguration, keys: KeySet) {
        self.configuration = configuration
        state = Locked(State(keys: keys))
    }

    /// The identifiers of the keys that verify tokens now (see `KeySet.identifiers`).
    public var activeKeyIdentifiers: [String] { state.withLock { $0.keys.identifiers } }

    /// The keys stream tickets are made (first) and accepted with now: they rotate with the HS256 secrets.
    var ticketKeys: [SymmetricKey] { state.withLock { $0.keys.ticketKeys } }

    /// Replaces the keys with `material` and forgets every cached token, or throws and keeps the keys in
    /// use. Returns the identifiers active afterwards (those of a later call, when one finished first).
    @discardableResult
    public func reload(_ material: TokenKeyMaterial) async throws(TokenKeyError) -> [String] {
        let ticket = reloadTickets.add(1, ordering: .relaxed).newValue
        let keys = try await Self.keySet(from: material)
        return state.withLock { state in
            if ticket > state.ticket {
                state.keys = keys
                state.ticket = ticket
                state.cache = TokenCache()
            }
            return state.keys.identifiers
        }
    }

    static func keySet(from material: TokenKeyMaterial) async throws(TokenKeyError) -> KeySet {
        guard !material.hmacSecrets.isEmpty else { throw TokenKeyError("\(material.hmacSource) holds no secret", path: material.hmacPath) }
        var hmacKeys: [Key] = [], identifiers: [String] = []
        for (index, secret) in material.hmacSecrets.enumerated() {
            guard secret.utf8.count >= 32 else {
                let which = material.hmacSecrets.count > 1 ? "secret \(index + 1) is" : "is"
                throw TokenKeyError(
                    "\(material.hmacSource) \(which) \(secret.utf8.count) bytes long; it must be at least 32 bytes", path: material.hmacPath)
            }
            let collection = JWTKeyCollection()
            await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            do {
                hmacKeys.append(Key(algorithmName: "HS256", algorithm: try await collection.getKey()))
            } catch {
                throw TokenKeyError("\(material.hmacSource): \(error)", path: material.hmacPath)
            }
            identifiers.append("hs256:" + SHA256.hash(data: Data(secret.utf8)).prefix(4).map { String(format: "%02x", $0) }.joined())
        }
        var keysByID: [String: Key] = [:]
        if let json = material.jwksJSON {
            func refuse(_ reason: String) -> TokenKeyError { TokenKeyError("\(material.jwksSource): \(reason)", path: material.jwksPath) }
            let jwks: JWKS
            do {
                jwks = try JSONDecoder().decode(JWKS.self, from: Data(json.utf8))
            } catch let error as DecodingError {
                throw refuse("not a JWKS document (\(error.reason))")
            } catch {
                throw refuse("not a JWKS document")
            }
            let collection = JWTKeyCollection()
            for jwk in jwks.keys {
                guard let kid = jwk.keyIdentifier?.string else { throw refuse("every JWKS key needs a kid") }
                guard keysByID[kid] == nil else { throw refuse("kid \(kid) appears twice") }
                do {
                    let name = try algorithmName(of: jwk)
                    try await collection.add(jwk: jwk)
                    keysByID[kid] = Key(algorithmName: name, algorithm: try await collection.getKey(for: jwk.keyIdentifier, alg: name))
                } catch {
                    throw refuse("key \(kid) is not usable: \(error)")
                }
                identifiers.append(kid)
            }
        }
        return KeySet(
            hmacKeys: hmacKeys, keysByID: keysByID, identifiers: identifiers,
            ticketKeys: material.hmacSecrets.map(StreamTickets.key(secret:)))
    }

    /// RS256 or ES256 only; the JWK's `alg` must agree with its key type when given.
    static func algorithmName(of jwk: JWK) throws(TokenKeyError) -> String {
        let expected: String
        switch jwk.keyType {
        case .rsa: expected = "RS256"
        case .ecdsa: expected = "ES256"
        default: throw TokenKeyError("JWKS keys must be RSA (RS256) or EC P-256 (ES256)")
        }
        if let alg = jwk.algorithm?.rawValue, alg != expected {
            throw TokenKeyError("it has alg \(alg); only \(expected) is accepted for its key type")
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
        // Looked up as sent: a header is cached only once its token passed every check, so a client's
        // every request after its first needs no parsing (nor a copy of the token).
        let slot = TokenCache.slot(of: header)
        let lookup = state.withLock { state -> Lookup in
            if let hit = state.cache.token(at: slot, for: header) { return .hit(hit) }
            return .miss(state.keys)
        }
        let keys: KeySet
        switch lookup {
        case .hit(let hit):
            try checkTimes(expires: hit.expires, notBefore: hit.notBefore, now: now)
            return hit
        case .miss(let current):
            keys = current
        }
        let (principal, claims) = try verify(try Self.bearerToken(in: header), with: keys, now: now)
        // `verify` refuses a token without exp.
        let found = VerifiedToken(principal: principal, expires: claims.exp?.value ?? now, notBefore: claims.nbf?.value)
        state.withLock { state in
            // Keys replaced while this token was checked: it was verified against the old ones.
            guard state.keys === keys else { return }
            state.cache.store(found, at: slot, for: header)
        }
        return found
    }

    /// The token of an `Authorization: Bearer <token>` value (the scheme in any case, spaces and tabs around
    /// the token ignored).
    static func bearerToken(in header: String) throws(AuthenticationError) -> String {
        // Byte-wise: `count` and `prefix` of a String walk grapheme clusters.
        let bytes = header.utf8
        let scheme = "bearer ".utf8
        guard bytes.count > scheme.count, bytes.prefix(scheme.count).equalsIgnoringASCIICase(scheme) else {
            throw AuthenticationError("The Authorization header must use the Bearer scheme.")
        }
        let credentials = header[bytes.index(bytes.startIndex, offsetBy: scheme.count)...]
        return String(credentials.trimmingHTTPWhitespace())
    }

    /// Tokens verified before, with their time window: a client sends the same token with every request,
    /// and verifying it (two JSON decodes and an HMAC or signature check) is a fifth of a read's CPU. Kept
    /// under the exact `Authorization` value whose token passed every check; the time checks are redone on
    /// each hit.
    ///
    /// Direct-mapped: a value has one slot, chosen from the last 8 bytes of its text, which end the token's
    /// signature (HS256's whole, part of a longer one) and so differ between any two tokens (a forged one
    /// that does not is never cached: it fails verification). A value whose slot another holds takes it
    /// over, and the other is verified again when it comes back. A dictionary hashed each value with
    /// SipHash and went through generic lookup code: ~750 instructions and ~40 instruction-cache misses
    /// of a get (bench/README.md); this is a multiply, an index and one comparison of the whole text.
    struct TokenCache {
        /// 8,192 slots (~0.6 MiB): room for thousands of clients' tokens at once.
        static let slotBits = 13
        static let slotCount = 1 << slotBits
        private var slots: [(header: String, token: VerifiedToken)?] = Array(repeating: nil, count: slotCount)

        /// `header`'s slot, computed before the lock is taken: the workers share one cache.
        static func slot(of header: String) -> Int {
            var text = header
            let tail = text.withUTF8 { bytes -> UInt64 in
                var tail: UInt64 = 0
                for byte in bytes.suffix(8) { tail = tail << 8 | UInt64(byte) }
                return tail
            }
            // Fibonacci hashing: the multiply spreads every byte of the tail over the top bits.
            return Int((tail &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - slotBits))
        }

        func token(at slot: Int, for header: String) -> VerifiedToken? {
            guard let held = slots[slot], held.header == header else { return nil }
            return held.token
        }

        mutating func store(_ token: VerifiedToken, at slot: Int, for header: String) {
            slots[slot] = (header, token)
        }
    }

    enum Lookup {
        case hit(VerifiedToken)
        case miss(KeySet)
    }

    struct VerifiedToken {
        let principal: Principal
        let expires: Date
        let notBefore: Date?
    }

    /// A bare token, verified (and cached) as the header `Authorization: Bearer <token>`.
    func principal(fromToken token: String, now: Date) throws(AuthenticationError) -> Principal {
        try verifiedToken(fromAuthorization: "Bearer \(token)", now: now).principal
    }

    private func checkTimes(expires: Date, notBefore: Date?, now: Date) throws(AuthenticationError) {
        guard expires.timeIntervalSince(now) > -configuration.leeway else { throw AuthenticationError("The token has expired.") }
        if let notBefore, notBefore.timeIntervalSince(now) > configuration.leeway {
            throw AuthenticationError("The token is not valid yet (nbf).")
        }
    }

    private func verify(_ token: String, with keys: KeySet, now: Date) throws(AuthenticationError) -> (Principal, WorkflowClaims) {
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
        let candidates = try candidates(for: header, in: keys)
        let signingInput = bytes[..<bytes.lastIndex(of: UInt8(ascii: "."))!]
        let valid = candidates.contains { (try? $0.algorithm.verify(signature, signs: signingInput)) ?? false }
        guard valid else { throw AuthenticationError("The token's signature is not valid.") }
        return (try principal(from: claims, now: now), claims)
    }

    /// The keys that may have signed a token with this header: the JWKS key of its `kid`, or without one
    /// every HS256 secret (two while a secret is being rotated). The token's `alg` must be theirs.
    private func candidates(for header: JWTHeader, in keys: KeySet) throws(AuthenticationError) -> [Key] {
        if let crit = header.crit, !crit.isEmpty {
            throw AuthenticationError("The token names critical header extensions (crit) that are not supported.")
        }
        for field in ["jku", "x5u", "jwk", "x5c"] where header.fields[field] != nil {
            throw AuthenticationError("Tokens carrying a \(field) header are not accepted.")
        }
        guard let alg = header.alg else { throw AuthenticationError("The token header has no alg.") }
        let candidates: [Key]
        if let kid = header.kid {
            guard let found = keys.keysByID[kid] else { throw AuthenticationError("The token's kid names no known key.") }
            candidates = [found]
        } else {
            candidates = keys.hmacKeys
        }
        guard let algorithmName = candidates.first?.algorithmName, alg == algorithmName else {
            throw AuthenticationError("The token's alg \(alg.prefix(16)) does not match its key (\(candidates.first?.algorithmName ?? "none")).")
        }
        return candidates
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
