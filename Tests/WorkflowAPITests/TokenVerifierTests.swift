import Foundation
import Synchronization
import TestSupport
import Testing
@testable import WorkflowAPI
import Workflows

@Suite struct TokenVerifierTests {
    let user = UUID()
    let ec = TestECKey(kid: "ec1")
    var jwks: String { TestECKey.jwks([ec]) }

    func verifier(issuer: String? = nil, audience: String? = nil) async throws -> TokenVerifier {
        try await TokenVerifier.make(configuration: TokenVerifierConfiguration(
            hmacSecret: TestTokens.secret, jwksJSON: jwks, issuer: issuer, audience: audience))
    }

    func claims(_ extra: [String: Any] = [:]) -> [String: Any] {
        var claims: [String: Any] = ["sub": user.uuidString, "roles": ["Participant"], "exp": Int(Date().timeIntervalSince1970) + 600]
        claims.merge(extra) { $1 }
        return claims.filter { !($0.value is NSNull) }
    }

    func rejects(_ token: String, _ verifier: TokenVerifier, _ comment: Comment? = nil) {
        #expect(throws: AuthenticationError.self, comment) { try verifier.principal(fromAuthorization: "Bearer \(token)") }
    }

    @Test func acceptsAValidHS256TokenWithEitherCaseOfBearer() async throws {
        let v = try await verifier()
        let token = TestTokens.sign(header: ["alg": "HS256"], claims: claims())
        #expect(try v.principal(fromAuthorization: "Bearer \(token)") == Principal(userId: user, roles: [.participant]))
        #expect(try v.principal(fromAuthorization: "bearer \(token)").userId == user)
    }

    @Test func theBearerSchemeIsReadByteWiseInAnyCaseWithSpacesAroundTheToken() async throws {
        let v = try await verifier()
        let token = TestTokens.sign(header: ["alg": "HS256"], claims: claims())
        for header in ["BEARER \(token)", "BeArEr \(token)", "Bearer   \(token) \t", "Bearer \t\(token)"] {
            #expect(try v.principal(fromAuthorization: header).userId == user, "\(header.debugDescription)")
        }
        for header in ["Basic \(token)", "Bearer\(token)", "Bearer", "Bearer ", "Bearer    ", "Béarer \(token)", "Bearer\t\(token)", "Bearer \(token)é"] {
            #expect(throws: AuthenticationError.self, "\(header.debugDescription)") { try v.principal(fromAuthorization: header) }
        }
        #expect(" \té x\t ".trimmingHTTPWhitespace() == "é x")
        #expect("\t \t".trimmingHTTPWhitespace() == "")
        #expect("e\u{301}  ".trimmingHTTPWhitespace() == "e\u{301}", "a combining mark stays with its letter")
    }

    @Test func rolesComeFromRolesOrRole() async throws {
        let v = try await verifier()
        let single = TestTokens.sign(header: ["alg": "HS256"], claims: claims(["roles": NSNull(), "role": "Admin"]))
        #expect(try v.principal(fromAuthorization: "Bearer \(single)").roles == [.admin])
        let array = TestTokens.sign(header: ["alg": "HS256"], claims: claims(["roles": NSNull(), "role": ["Viewer", "Bogus"]]))
        #expect(try v.principal(fromAuthorization: "Bearer \(array)").roles == [.viewer])
        let none = TestTokens.sign(header: ["alg": "HS256"], claims: claims(["roles": NSNull()]))
        #expect(try v.principal(fromAuthorization: "Bearer \(none)").roles.isEmpty)
    }

    @Test func acceptsES256FromTheJWKS() async throws {
        let v = try await verifier()
        #expect(try v.principal(fromAuthorization: "Bearer \(ec.sign(claims: claims()))").userId == user)
    }

    @Test(arguments: ["none", "None", "NONE", "nOnE"])
    func algNoneIsRejectedInAnyCase(_ alg: String) async throws {
        let v = try await verifier()
        let unsigned = TestTokens.base64URL(TestTokens.json(["alg": alg])) + "." + TestTokens.base64URL(TestTokens.json(claims())) + "."
        rejects(unsigned, v)
    }

    @Test func algorithmConfusionWithThePublicKeyAsHMACSecretIsRejected() async throws {
        let v = try await verifier()
        let publicKeyAsSecret = String(decoding: ec.publicKeyRaw, as: UTF8.self)
        rejects(TestTokens.sign(header: ["alg": "HS256", "kid": "ec1"], claims: claims(), secret: publicKeyAsSecret), v)
        rejects(TestTokens.sign(header: ["alg": "ES256"], claims: claims()), v, "ES256 claimed for the HMAC key")
    }

    @Test func rejectsEveryFlawedToken() async throws {
        let v = try await verifier(issuer: "https://issuer.test", audience: "workflowd")
        let ok: [String: Any] = ["iss": "https://issuer.test", "aud": "workflowd"]
        let now = Int(Date().timeIntervalSince1970)
        func hs(_ extra: [String: Any], header: [String: Any] = ["alg": "HS256"], secret: String = TestTokens.secret) -> String {
            TestTokens.sign(header: header, claims: claims(ok.merging(extra) { $1 }), secret: secret)
        }
        // Sanity: the base token passes, so each rejection below is about its one flaw.
        #expect(throws: Never.self) { try v.principal(fromAuthorization: "Bearer \(hs([:]))") }
        #expect(throws: Never.self) { try v.principal(fromAuthorization: "Bearer \(hs(["aud": ["other", "workflowd"]]))") }
        #expect(throws: Never.self) { try v.principal(fromAuthorization: "Bearer \(hs(["exp": now - 30]))") }
        rejects(hs([:], secret: "another-secret-another-secret-another"), v, "wrong secret")
        rejects(hs(["exp": now - 120]), v, "expired beyond leeway")
        rejects(hs(["exp": NSNull()]), v, "exp missing")
        rejects(hs(["exp": "tomorrow"]), v, "exp not a number")
        rejects(hs(["nbf": now + 600]), v, "nbf in the future")
        rejects(hs(["iss": "https://evil.test"]), v, "wrong iss")
        rejects(hs(["aud": "someone-else"]), v, "wrong aud")
        rejects(hs(["sub": "marcus"]), v, "sub not a UUID")
        rejects(hs([:], header: ["alg": "HS256", "kid": "unknown"]), v, "unknown kid")
        rejects(hs([:], header: ["alg": "HS256", "crit": ["exp-ext"], "exp-ext": 1]), v, "crit")
        rejects(hs([:], header: ["alg": "HS256", "jku": "https://evil.test/jwks"]), v, "jku")
        rejects(hs([:], header: ["alg": "HS256", "x5u": "https://evil.test/cert"]), v, "x5u")
        rejects(hs([:], header: ["alg": "HS384"]), v, "other HMAC alg")
        let valid = hs([:])
        rejects(valid.split(separator: ".").prefix(2).joined(separator: "."), v, "two parts")
        rejects(valid + ".extra", v, "four parts")
        rejects(hs(["padding": String(repeating: "x", count: 9000)]), v, "over 8 KiB")
        #expect(throws: AuthenticationError.self) { try v.principal(fromAuthorization: nil) }
        #expect(throws: AuthenticationError.self) { try v.principal(fromAuthorization: "Basic dXNlcjpwYXNz") }
    }

    @Test func errorTextNeverEchoesTheToken() async throws {
        let v = try await verifier()
        let token = TestTokens.sign(header: ["alg": "HS256"], claims: claims(), secret: "wrong-wrong-wrong-wrong-wrong-wrong-wrong")
        do {
            _ = try v.principal(fromAuthorization: "Bearer \(token)")
            Issue.record("accepted a token with a wrong signature")
        } catch {
            #expect(!error.description.contains(token.prefix(20)))
        }
    }

    @Test func aShortSecretIsRefused() async {
        await #expect(throws: TokenKeyError("WORKFLOWD_JWT_SECRET is 9 bytes long; it must be at least 32 bytes")) {
            try await TokenVerifier.make(configuration: TokenVerifierConfiguration(hmacSecret: "too-short"))
        }
    }

    @Test func mintedTokensVerify() async throws {
        let v = try await verifier()
        let token = try await TokenMinter.mint(secret: TestTokens.secret, subject: user, roles: [.participant, .admin], ttl: 60)
        #expect(try v.principal(fromAuthorization: "Bearer \(token)").roles == [.participant, .admin])
    }
}

@Suite struct TokenCacheTests {
    let user = UUID()
    let now = Date()

    /// A verifier and a Viewer token for `user` valid from 10 s before `now` to 100 s after.
    func verifierAndToken() async throws -> (TokenVerifier, String) {
        let v = try await TokenVerifier.make(configuration: TokenVerifierConfiguration(hmacSecret: TestTokens.secret))
        let token = TestTokens.sign(header: ["alg": "HS256"], claims: [
            "sub": user.uuidString, "roles": ["Viewer"], "exp": Int(now.timeIntervalSince1970) + 100,
            "nbf": Int(now.timeIntervalSince1970) - 10,
        ])
        return (v, token)
    }

    @Test func aCachedTokenStillExpiresAndNbfStillApplies() async throws {
        let (v, token) = try await verifierAndToken()
        #expect(try v.principal(fromToken: token, now: now).userId == user)
        #expect(try v.principal(fromToken: token, now: now.addingTimeInterval(150)).userId == user, "inside the 60 s leeway")
        #expect(throws: AuthenticationError.self) { try v.principal(fromToken: token, now: now.addingTimeInterval(200)) }
        #expect(throws: AuthenticationError.self) { try v.principal(fromToken: token, now: now.addingTimeInterval(-100)) }
        // A token differing in one signature character is not a cache hit.
        var tampered = Array(token)
        tampered[tampered.count - 2] = tampered[tampered.count - 2] == "A" ? "B" : "A"
        #expect(throws: AuthenticationError.self) { try v.principal(fromToken: String(tampered), now: now) }
    }

    /// The cache is looked up by the header as sent: a hit skips parsing, never the time checks, and
    /// only the exact value that was verified hits.
    @Test func aCachedHeaderIsStillTimeCheckedAndOnlyTheExactValueHits() async throws {
        let (v, token) = try await verifierAndToken()
        let header = "Bearer \(token)"
        #expect(try v.principal(fromAuthorization: header, now: now).userId == user)
        #expect(try v.principal(fromAuthorization: header, now: now).userId == user, "the cache hit")
        #expect(throws: AuthenticationError.self) { try v.principal(fromAuthorization: header, now: now.addingTimeInterval(200)) }
        // Another spelling of the same token is parsed and verified on its own.
        #expect(try v.principal(fromAuthorization: "bearer \t\(token) ", now: now).userId == user)
        // The verified token under another scheme, or with none, is still refused.
        #expect(throws: AuthenticationError.self) { try v.principal(fromAuthorization: "Basic \(token)", now: now) }
        #expect(throws: AuthenticationError.self) { try v.principal(fromAuthorization: token, now: now) }
        #expect(throws: AuthenticationError.self) { try v.principal(fromAuthorization: "Bearer \(token)x", now: now) }
    }

    /// Each header has one slot, from its last bytes; a header whose slot another holds takes it over, and
    /// the one it displaced is a miss (verified again) until it is stored back.
    @Test func aTokenCacheSlotHoldsOneHeaderAndOnlyItsExactText() {
        var cache = TokenVerifier.TokenCache()
        let token = TokenVerifier.VerifiedToken(principal: Principal(userId: user, roles: [.viewer]), expires: now, notBefore: nil)
        let a = "Bearer aaaa.bbbb.signature-one", b = "Bearer aaaa.bbbb.signature-two"
        #expect((0..<TokenVerifier.TokenCache.slotCount).contains(TokenVerifier.TokenCache.slot(of: a)))
        #expect(TokenVerifier.TokenCache.slot(of: a) != TokenVerifier.TokenCache.slot(of: b), "the tails differ, so do the slots")
        #expect(TokenVerifier.TokenCache.slot(of: "Bearer x" + a.dropFirst(8)) == TokenVerifier.TokenCache.slot(of: a), "only the tail counts")
        let slot = TokenVerifier.TokenCache.slot(of: a)
        cache.store(token, at: slot, for: a)
        #expect(cache.token(at: slot, for: a)?.principal.userId == user)
        #expect(cache.token(at: slot, for: "Bearer x" + a.dropFirst(8)) == nil, "the same slot, another text: a miss")
        cache.store(token, at: slot, for: b)
        #expect(cache.token(at: slot, for: a) == nil && cache.token(at: slot, for: b) != nil)
    }
}

/// Key rotation: `reload` swaps the whole key set while requests are verified, or keeps it when the new
/// one is unusable.
@Suite struct TokenKeyReloadTests {
    let secretA = "secret-a-0123456789-abcdefghijklmnopqrstuvwxyz"
    let secretB = "secret-b-0123456789-abcdefghijklmnopqrstuvwxyz"
    let ec1 = TestECKey(kid: "ec1"), ec2 = TestECKey(kid: "ec2")
    let user = UUID()

    func hs(_ secret: String, user: UUID? = nil) -> String { TestTokens.token(user: user ?? self.user, roles: ["Viewer"], secret: secret) }

    func accepts(_ v: TokenVerifier, _ token: String) -> Bool { (try? v.principal(fromAuthorization: "Bearer \(token)")) != nil }

    func verifier(_ secrets: [String], _ ecKeys: [TestECKey]) async throws -> TokenVerifier {
        try await TokenVerifier.make(configuration: TokenVerifierConfiguration(
            keys: TokenKeyMaterial(hmacSecrets: secrets, jwksJSON: TestECKey.jwks(ecKeys))))
    }

    /// A directory with a secret file and a JWKS file, and the sources that read them.
    struct KeyFiles {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        var secretPath: String { "\(directory)/jwt-secret" }
        var jwksPath: String { "\(directory)/jwks.json" }
        var sources: TokenKeySources { TokenKeySources(secret: .file(path: secretPath), jwksFile: jwksPath) }

        init(secret: String, jwks: String) throws {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try write(secret: secret, jwks: jwks)
        }

        func write(secret: String? = nil, jwks: String? = nil) throws {
            if let secret { try secret.write(toFile: secretPath, atomically: true, encoding: .utf8) }
            if let jwks { try jwks.write(toFile: jwksPath, atomically: true, encoding: .utf8) }
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    @Test func oldAndNewKeysBothVerifyWhileBothAreListed() async throws {
        let v = try await verifier([secretA], [ec1])
        #expect(!accepts(v, hs(secretB)) && !accepts(v, ec2.token(user: user, roles: [])))
        let active = try await v.reload(TokenKeyMaterial(hmacSecrets: [secretB, secretA], jwksJSON: TestECKey.jwks([ec1, ec2])))
        for token in [hs(secretA), hs(secretB), ec1.token(user: user, roles: []), ec2.token(user: user, roles: [])] {
            #expect(accepts(v, token))
        }
        #expect(active.count == 4 && active.suffix(2) == ["ec1", "ec2"] && active.allSatisfy { !$0.contains("secret") }, "\(active)")
        #expect(v.activeKeyIdentifiers == active)
    }

    @Test func aRemovedKeyStopsVerifyingEvenWhenItsTokenIsCached() async throws {
        let v = try await verifier([secretA], [ec1])
        let oldHS = hs(secretA), oldEC = ec1.token(user: user, roles: [])
        #expect(accepts(v, oldHS) && accepts(v, oldEC), "both verified, so both are in the cache")
        try await v.reload(TokenKeyMaterial(hmacSecrets: [secretB], jwksJSON: TestECKey.jwks([ec2])))
        #expect(!accepts(v, oldHS), "a token of the removed secret")
        #expect(!accepts(v, oldEC), "a token of the removed JWKS key")
        #expect(accepts(v, hs(secretB)) && accepts(v, ec2.token(user: user, roles: [])))
    }

    @Test func aSecretFileHoldsTheCurrentAndThePreviousSecretOnePerLine() async throws {
        let files = try KeyFiles(secret: "\(secretB)\r\n\n  \(secretA)  \n", jwks: TestECKey.jwks([ec1]))
        defer { files.remove() }
        let material = try files.sources.read()
        #expect(material.hmacSecrets == [secretB, secretA])
        let v = try await TokenVerifier.make(configuration: TokenVerifierConfiguration(keys: material))
        #expect(accepts(v, hs(secretA)) && accepts(v, hs(secretB)) && accepts(v, ec1.token(user: user, roles: [])))
    }

    @Test func aBadNewFileKeepsTheKeysInUseAndNamesTheFile() async throws {
        let files = try KeyFiles(secret: secretA, jwks: TestECKey.jwks([ec1]))
        defer { files.remove() }
        let v = try await TokenVerifier.make(configuration: TokenVerifierConfiguration(keys: try files.sources.read()))
        let before = v.activeKeyIdentifiers
        let goodHS = hs(secretA), goodEC = ec1.token(user: user, roles: [])
        let badKey = #"{"kty":"EC","crv":"P-256","kid":"ec9","x":"AAAA","y":"AAAA"}"#
        let kidless = ec2.jwk.replacingOccurrences(of: "\"kid\":\"ec2\",", with: "")
        let cases: [(secret: String?, jwks: String?, path: String, reason: String)] = [
            (nil, "{\"keys\": [", files.jwksPath, "not a JWKS document"),
            (nil, #"{"keys":[\#(badKey)]}"#, files.jwksPath, "key ec9 is not usable"),
            (nil, #"{"keys":[\#(kidless)]}"#, files.jwksPath, "needs a kid"),
            (nil, #"{"keys":[\#(ec1.jwk),\#(ec1.jwk)]}"#, files.jwksPath, "kid ec1 appears twice"),
            ("\(secretB)\nshort\n", TestECKey.jwks([ec2]), files.secretPath, "secret 2 is 5 bytes long; it must be at least 32 bytes"),
            ("\(secretB)\n\(secretA)\n\(secretA)\n", TestECKey.jwks([ec2]), files.secretPath, "holds 3 secrets"),
            ("\n", TestECKey.jwks([ec2]), files.secretPath, "holds no secret"),
        ]
        for bad in cases {
            try files.write(secret: bad.secret ?? secretA, jwks: bad.jwks ?? TestECKey.jwks([ec1]))
            do {
                try await v.reload(try files.sources.read())
                Issue.record("accepted \(bad)")
            } catch {
                #expect(error.path == bad.path && error.description.contains(bad.path) && error.description.contains(bad.reason), "\(error)")
            }
            #expect(v.activeKeyIdentifiers == before)
            #expect(accepts(v, goodHS) && accepts(v, goodEC), "the previous keys still verify after \(bad.reason)")
            #expect(!accepts(v, hs(secretB)) && !accepts(v, ec2.token(user: user, roles: [])), "nothing of the bad load is used")
        }
        try FileManager.default.removeItem(atPath: files.jwksPath)
        do {
            try await v.reload(try files.sources.read())
            Issue.record("read a file that is gone")
        } catch {
            #expect(error.description == "cannot read WORKFLOWD_JWKS_FILE \(files.jwksPath): No such file or directory", "\(error)")
        }
        #expect(accepts(v, goodHS) && accepts(v, goodEC))
    }

    /// The verifier is read on every request by many threads: a reload must never make one of them fail.
    @Test func tokensValidBeforeAndAfterAreNeverRefusedDuringReloads() async throws {
        let v = try await verifier([secretA], [ec1])
        let cached = hs(secretA)
        final class Tally: Sendable {
            let refused = Atomic<Int>(0), checked = Atomic<Int>(0), stop = Atomic<Bool>(false)
        }
        let tally = Tally()
        let threads = (0..<8).map { index in
            let thread = Thread { [secretA, ec1] in
                while !tally.stop.load(ordering: .relaxed) {
                    // Some tokens are cached, some new (a full verification racing the swap), HS256 and ES256.
                    let token = switch index % 4 {
                    case 0, 2: cached
                    case 1: TestTokens.token(user: UUID(), roles: [], secret: secretA)
                    default: ec1.token(user: UUID(), roles: [])
                    }
                    if (try? v.principal(fromAuthorization: "Bearer \(token)")) == nil { tally.refused.add(1, ordering: .relaxed) }
                    tally.checked.add(1, ordering: .relaxed)
                }
            }
            thread.start()
            return thread
        }
        for round in 0..<40 {
            let secrets = round.isMultiple(of: 2) ? [secretB, secretA] : [secretA]
            let keys = round.isMultiple(of: 2) ? [ec1, ec2] : [ec1]
            try await v.reload(TokenKeyMaterial(hmacSecrets: secrets, jwksJSON: TestECKey.jwks(keys)))
            try await Task.sleep(for: .milliseconds(5))
        }
        tally.stop.store(true, ordering: .relaxed)
        while !threads.allSatisfy(\.isFinished) { try await Task.sleep(for: .milliseconds(5)) }
        #expect(tally.refused.load(ordering: .relaxed) == 0)
        #expect(tally.checked.load(ordering: .relaxed) > 100, "the threads did verify during the reloads")
    }
}
