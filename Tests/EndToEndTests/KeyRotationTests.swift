import Foundation
import Synchronization
import TestSupport
import Testing

/// Key rotation without a restart: workflowd reads WORKFLOWD_JWT_SECRET_FILE and WORKFLOWD_JWKS_FILE
/// again on SIGHUP, through nginx, while requests keep coming.
@Suite(requiresStack)
struct KeyRotationEndToEndTests {
    let secretA = "rotation-secret-a-0123456789-abcdefghijklmnop"
    let secretB = "rotation-secret-b-0123456789-abcdefghijklmnop"
    let ec1 = TestECKey(kid: "ec1"), ec2 = TestECKey(kid: "ec2")

    /// The status of an authenticated read with `token` (no database involved, so only the key decides).
    func status(_ stack: Stack, _ token: String) throws -> Int {
        try stack.client.request("GET", "/api/v1/workflow-states", token: token).status
    }

    /// A stream ticket made for `token`'s user, and the status of a stream it opens (200 after the stack's
    /// 1 s stream lifetime; 401 once the secret it was made under is gone).
    func ticket(_ stack: Stack, _ token: String) throws -> String {
        try stack.client.request("POST", "/api/v1/stream-tickets", token: token).json["ticket"] as? String ?? ""
    }
    func streamStatus(_ stack: Stack, _ ticket: String) throws -> Int {
        try stack.client.request("GET", "/api/v1/events/stream?ticket=\(ticket)").status
    }

    func hs(_ secret: String) -> String { TestTokens.token(user: UUID(), roles: ["Viewer"], secret: secret) }
    func es(_ key: TestECKey) -> String { key.token(user: UUID(), roles: ["Viewer"]) }

    /// The JSON log lines of a reload's outcome, good or bad.
    func reloadLines(_ responder: WorkflowdProcess) -> [Substring] {
        responder.log.split(separator: "\n").filter { $0.contains(#""message":"JWT keys reloaded""#) || $0.contains(#""message":"JWT keys not reloaded"#) }
    }

    /// The value of a string field of a JSON log line.
    func field(_ name: String, _ line: String) -> String? {
        guard let start = line.range(of: "\"\(name)\":\"") else { return nil }
        return String(line[start.upperBound...].prefix { $0 != "\"" })
    }

    /// Sends SIGHUP while `clients` threads send requests in a loop, each with a new token (a new subject,
    /// so no per-client limit applies and each is verified in full) from `tokens`; returns the reload's log
    /// line and every status the loop saw.
    func hangUp(_ stack: Stack, whileSending tokens: @escaping @Sendable () -> String, clients: Int = 4) throws -> (line: String, statuses: [Int]) {
        let responder = stack.responders[0]
        let before = reloadLines(responder).count
        final class Loop: Sendable {
            let statuses = Mutex<[Int]>([]), stop = Atomic<Bool>(false), done = DispatchSemaphore(value: 0)
        }
        let loop = Loop()
        for _ in 0..<clients {
            Thread.detachNewThread { [client = stack.client] in
                while !loop.stop.load(ordering: .relaxed) {
                    let status = (try? client.request("GET", "/api/v1/workflow-states", token: tokens()).status) ?? -1
                    loop.statuses.withLock { $0.append(status) }
                    // Paced below nginx's per-address limit (500 r/s, burst 2000), which all these clients share.
                    Thread.sleep(forTimeInterval: 0.01)
                }
                loop.done.signal()
            }
        }
        Thread.sleep(forTimeInterval: 0.2)
        responder.signal(SIGHUP)
        var lines = reloadLines(responder)
        for _ in 0..<100 where lines.count == before {
            Thread.sleep(forTimeInterval: 0.05)
            lines = reloadLines(responder)
        }
        Thread.sleep(forTimeInterval: 0.2)
        loop.stop.store(true, ordering: .relaxed)
        for _ in 0..<clients { _ = loop.done.wait(timeout: .now() + 30) }
        #expect(lines.count == before + 1, "one reload logged: \(responder.log)")
        return (lines.last.map(String.init) ?? "", loop.statuses.withLock { $0 })
    }

    @Test func sighupRotatesTheSecretFileAndTheJWKSWithoutRefusingARequest() throws {
        let directory = try TestEnvironment.scratchDirectory("keys")
        let secretFile = "\(directory)/jwt-secret", jwksFile = "\(directory)/jwks.json"
        func write(secret: String? = nil, jwks: [TestECKey]? = nil) throws {
            if let secret { try secret.write(toFile: secretFile, atomically: true, encoding: .utf8) }
            if let jwks { try TestECKey.jwks(jwks).write(toFile: jwksFile, atomically: true, encoding: .utf8) }
        }
        try write(secret: "\(secretA)\n", jwks: [ec1])
        let stack = try Stack(name: "key-rotation", environment: [
            "WORKFLOWD_JWT_SECRET": "", "WORKFLOWD_JWT_SECRET_FILE": secretFile, "WORKFLOWD_JWKS_FILE": jwksFile,
            "WORKFLOWD_STREAM_LIFETIME_SECONDS": "1",
        ])
        let responder = stack.responders[0]
        let cachedA = hs(secretA), cachedEC1 = es(ec1)
        let ticketA = try ticket(stack, cachedA)
        #expect(try streamStatus(stack, ticketA) == 200)
        #expect(try status(stack, cachedA) == 200 && status(stack, cachedEC1) == 200)
        #expect(try status(stack, hs(secretB)) == 401 && status(stack, es(ec2)) == 401)

        // Rotation starts: the new secret first, the old one second; the new JWKS key beside the old one.
        try write(secret: "\(secretB)\n\(secretA)\n", jwks: [ec1, ec2])
        let added = try hangUp(stack) { Bool.random() ? hs(secretA) : es(ec1) }
        let addedKeys = field("keys", added.line)?.split(separator: ",") ?? []
        #expect(added.line.contains(#""level":"info""#) && addedKeys.count == 4 && addedKeys.suffix(2) == ["ec1", "ec2"], "\(added.line)")
        #expect(addedKeys.prefix(2).allSatisfy { $0.hasPrefix("hs256:") } && addedKeys[0] != addedKeys[1], "\(added.line)")
        #expect(!added.line.contains(secretA) && !added.line.contains(secretB), "no secret in the log")
        #expect(added.statuses.count > 20 && added.statuses.allSatisfy { $0 == 200 }, "\(added.statuses.filter { $0 != 200 })")
        for token in [cachedA, cachedEC1, hs(secretA), hs(secretB), es(ec1), es(ec2)] { #expect(try status(stack, token) == 200) }
        let ticketB = try ticket(stack, hs(secretB))
        #expect(try [streamStatus(stack, ticketA), streamStatus(stack, ticketB)] == [200, 200], "tickets under both secrets")

        // Rotation ends: the old secret and key removed. Their tokens stop working, cached or not.
        try write(secret: "\(secretB)\n", jwks: [ec2])
        let removed = try hangUp(stack) { Bool.random() ? hs(secretB) : es(ec2) }
        #expect(removed.statuses.count > 20 && removed.statuses.allSatisfy { $0 == 200 }, "\(removed.statuses.filter { $0 != 200 })")
        let removedKeys = field("keys", removed.line)?.split(separator: ",") ?? []
        #expect(removed.line.contains(#""level":"info""#) && removedKeys == [addedKeys.first ?? "", "ec2"], "the current secret and ec2: \(removed.line)")
        #expect(try status(stack, cachedA) == 401 && status(stack, cachedEC1) == 401, "tokens of removed keys, cached before")
        #expect(try status(stack, hs(secretA)) == 401 && status(stack, es(ec1)) == 401)
        #expect(try status(stack, hs(secretB)) == 200 && status(stack, es(ec2)) == 200)
        #expect(try [streamStatus(stack, ticketA), streamStatus(stack, ticketB)] == [401, 200], "a removed secret's tickets open nothing")

        // Broken files: each reload is refused with the file named, and the keys of the last good one serve on.
        try "{\"keys\": [".write(toFile: jwksFile, atomically: true, encoding: .utf8)
        let brokenJWKS = try hangUp(stack) { Bool.random() ? hs(secretB) : es(ec2) }
        #expect(brokenJWKS.line.contains(#""level":"error""#) && field("file", brokenJWKS.line) == jwksFile, "\(brokenJWKS.line)")
        #expect(brokenJWKS.line.contains("not a JWKS document"), "\(brokenJWKS.line)")
        #expect(brokenJWKS.statuses.count > 20 && brokenJWKS.statuses.allSatisfy { $0 == 200 })
        try write(jwks: [ec2])
        try FileManager.default.removeItem(atPath: secretFile)
        let missingSecret = try hangUp(stack) { Bool.random() ? hs(secretB) : es(ec2) }
        #expect(missingSecret.line.contains(#""level":"error""#), "\(missingSecret.line)")
        #expect(missingSecret.line.contains("cannot read WORKFLOWD_JWT_SECRET_FILE \(secretFile): No such file or directory"), "\(missingSecret.line)")
        try write(secret: "too-short\n")
        let shortSecret = try hangUp(stack) { hs(secretB) }
        #expect(shortSecret.line.contains("is 9 bytes long; it must be at least 32 bytes") && !shortSecret.line.contains("too-short"), "\(shortSecret.line)")
        let previous = try [status(stack, hs(secretB)), status(stack, es(ec2))]
        #expect(previous == [200, 200], "the previous keys still serve")
        #expect(try status(stack, hs("too-short")) == 401)
        #expect(responder.isRunning)
    }

    /// With the secret in the environment, SIGHUP still reloads the JWKS and says that the secret stayed.
    @Test func anEnvironmentSecretStaysAsItWasAndTheLogSaysSo() throws {
        let directory = try TestEnvironment.scratchDirectory("keys-env")
        let jwksFile = "\(directory)/jwks.json"
        try TestECKey.jwks([ec1]).write(toFile: jwksFile, atomically: true, encoding: .utf8)
        let stack = try Stack(name: "key-rotation-env", environment: ["WORKFLOWD_JWKS_FILE": jwksFile])
        try TestECKey.jwks([ec2]).write(toFile: jwksFile, atomically: true, encoding: .utf8)
        let reload = try hangUp(stack) { TestTokens.token(user: UUID(), roles: ["Viewer"]) }
        #expect(reload.statuses.allSatisfy { $0 == 200 })
        #expect(try status(stack, es(ec2)) == 200 && status(stack, es(ec1)) == 401)
        #expect(try status(stack, TestTokens.token(user: UUID(), roles: ["Viewer"])) == 200)
        #expect(stack.responders[0].log.contains(#""level":"notice","message":"the HS256 secret is unchanged"#), "\(stack.responders[0].log)")
    }

    @Test func anUnreadableSecretFileAtStartExitsTwoWithOneLine() throws {
        let database = try TestDatabase.create()
        let result = try Shell.run(["timeout", "20", TestEnvironment.binary!, "serve"], environment: [
            "DATABASE_URL": database.url, "WORKFLOWD_JWT_SECRET_FILE": "/nonexistent/jwt-secret",
            "WORKFLOWD_MIGRATIONS_DIR": "\(TestEnvironment.root!)/Migrations", "WORKFLOWD_LISTEN": "127.0.0.1:\(try Shell.freePort())",
        ], check: false)
        #expect(result.status == 2, "\(result.output)")
        let lines = result.output.split(separator: "\n").filter { $0.hasPrefix("workflowd: ") }
        #expect(lines == ["workflowd: cannot read WORKFLOWD_JWT_SECRET_FILE /nonexistent/jwt-secret: No such file or directory"], "\(result.output)")
    }
}
