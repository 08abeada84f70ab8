import Crypto
import Foundation
import TestSupport
import Testing
@testable import WorkflowAPI
import Workflows

@Suite struct TokenVerifierTests {
    let user = UUID()
    let ecKey = P256.Signing.PrivateKey()

    var jwks: String {
        let raw = ecKey.publicKey.rawRepresentation
        let x = TestTokens.base64URL(raw.prefix(32)), y = TestTokens.base64URL(raw.suffix(32))
        return #"{"keys":[{"kty":"EC","crv":"P-256","kid":"ec1","alg":"ES256","x":"\#(x)","y":"\#(y)"}]}"#
    }

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
        let input = TestTokens.base64URL(TestTokens.json(["alg": "ES256", "kid": "ec1"])) + "." + TestTokens.base64URL(TestTokens.json(claims()))
        let signature = try ecKey.signature(for: Data(input.utf8)).rawRepresentation
        #expect(try v.principal(fromAuthorization: "Bearer \(input).\(TestTokens.base64URL(signature))").userId == user)
    }

    @Test(arguments: ["none", "None", "NONE", "nOnE"])
    func algNoneIsRejectedInAnyCase(_ alg: String) async throws {
        let v = try await verifier()
        let unsigned = TestTokens.base64URL(TestTokens.json(["alg": alg])) + "." + TestTokens.base64URL(TestTokens.json(claims())) + "."
        rejects(unsigned, v)
    }

    @Test func algorithmConfusionWithThePublicKeyAsHMACSecretIsRejected() async throws {
        let v = try await verifier()
        let publicKeyAsSecret = String(decoding: ecKey.publicKey.rawRepresentation, as: UTF8.self)
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
        await #expect(throws: AuthenticationError.self) {
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
    @Test func aCachedTokenStillExpiresAndNbfStillApplies() async throws {
        let v = try await TokenVerifier.make(configuration: TokenVerifierConfiguration(hmacSecret: TestTokens.secret))
        let user = UUID()
        let now = Date()
        let token = TestTokens.sign(header: ["alg": "HS256"], claims: [
            "sub": user.uuidString, "roles": ["Viewer"], "exp": Int(now.timeIntervalSince1970) + 100,
            "nbf": Int(now.timeIntervalSince1970) - 10,
        ])
        #expect(try v.principal(fromToken: token, now: now).userId == user)
        #expect(try v.principal(fromToken: token, now: now.addingTimeInterval(150)).userId == user, "inside the 60 s leeway")
        #expect(throws: AuthenticationError.self) { try v.principal(fromToken: token, now: now.addingTimeInterval(200)) }
        #expect(throws: AuthenticationError.self) { try v.principal(fromToken: token, now: now.addingTimeInterval(-100)) }
        // A token differing in one signature character is not a cache hit.
        var tampered = Array(token)
        tampered[tampered.count - 2] = tampered[tampered.count - 2] == "A" ? "B" : "A"
        #expect(throws: AuthenticationError.self) { try v.principal(fromToken: String(tampered), now: now) }
    }
}
