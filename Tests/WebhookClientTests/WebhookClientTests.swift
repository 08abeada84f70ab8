import Foundation
import TestSupport
import Testing
@testable import WebhookClient

@Suite struct DestinationPolicyTests {
    func address(_ text: String) -> IPAddress { IPAddress(text)! }

    @Test func privateLoopbackAndLinkLocalAddressesAreRefusedByDefault() {
        let policy = DestinationPolicy()
        for refused in ["127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
                        "0.0.0.0", "100.64.0.1", "::1", "fe80::1", "fd00::5", "::ffff:127.0.0.1", "::ffff:10.0.0.1"] {
            #expect(!policy.permits(host: "hooks.example.com", address: address(refused)), "\(refused)")
        }
        for allowed in ["93.184.216.34", "172.32.0.1", "8.8.8.8", "2606:4700::1111"] {
            #expect(policy.permits(host: "hooks.example.com", address: address(allowed)), "\(allowed)")
        }
    }

    @Test func anAllowedBlockAllowsExactlyThatBlock() throws {
        let policy = try DestinationPolicy(allowList: "127.0.0.1/32")
        #expect(policy.permits(host: "localhost", address: address("127.0.0.1")))
        #expect(!policy.permits(host: "localhost", address: address("127.0.0.2")))
        #expect(!policy.permits(host: "localhost", address: address("::1")))
        let wider = try DestinationPolicy(allowList: "10.0.0.0/8, fd00::/8")
        #expect(wider.permits(host: "x", address: address("10.200.3.4")))
        #expect(wider.permits(host: "x", address: address("fd12::1")))
        #expect(!wider.permits(host: "x", address: address("192.168.0.1")))
    }

    @Test func anAllowedHostMayResolveToAPrivateAddress() throws {
        let policy = try DestinationPolicy(allowList: "Hooks.Internal")
        #expect(policy.permits(host: "hooks.internal", address: address("10.0.0.7")))
        #expect(!policy.permits(host: "other.internal", address: address("10.0.0.7")))
    }

    @Test func aMalformedEntryIsRefused() {
        #expect(throws: DestinationPolicy.InvalidEntry.self) { try DestinationPolicy(allowList: "10.0.0.0/33") }
        #expect(throws: DestinationPolicy.InvalidEntry.self) { try DestinationPolicy(allowList: "bad_host!") }
    }

    @Test func theHostIsTakenFromTheURL() {
        #expect(HTTPPoster.host(of: "https://user@Example.com:8443/x?y") == "Example.com")
        #expect(HTTPPoster.host(of: "http://[::1]:9/") == "::1")
        #expect(HTTPPoster.host(of: "http://127.0.0.1/") == "127.0.0.1")
    }
}

@Suite struct WebhookSignerTests {
    /// The example of the Standard Webhooks specification (secret, id, timestamp, body → signature).
    @Test func theStandardWebhooksExampleSignatureIsReproduced() throws {
        let key = try #require(Data(base64Encoded: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        let body = Array(#"{"test": 2432232314}"#.utf8)
        let signature = WebhookSigner.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1614265330, body: body, keys: [Array(key)])
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func duringARotationEitherSecretVerifies() {
        let old: [UInt8] = Array(repeating: 1, count: 32)
        let new: [UInt8] = Array(repeating: 2, count: 32)
        let body = Array("{}".utf8)
        let header = WebhookSigner.signature(id: "a", timestamp: 5, body: body, keys: [new, old])
        #expect(WebhookSigner.verify(header: header, id: "a", timestamp: 5, body: body, key: old))
        #expect(WebhookSigner.verify(header: header, id: "a", timestamp: 5, body: body, key: new))
        #expect(!WebhookSigner.verify(header: header, id: "a", timestamp: 6, body: body, key: new))
        #expect(!WebhookSigner.verify(header: header, id: "a", timestamp: 5, body: body, key: Array(repeating: 3, count: 32)))
    }
}

/// POSTs to a receiver on loopback (scripts/webhook-receiver.py) started by the test.
@Suite(.enabled(if: WebhookReceiver.isAvailable, "python3 or the repository root (WORKFLOWD_TEST_ROOT) is missing"))
struct HTTPPosterTests {
    @Test func loopbackIsRefusedByDefaultEvenThoughTheURLIsAnAddress() throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let result = HTTPPoster(policy: DestinationPolicy()).post(url: "http://127.0.0.1:\(receiver.port)/hook", headers: [], body: [1])
        guard case .refusedDestination? = result.failure else {
            Issue.record("not refused: \(result)")
            return
        }
        #expect(receiver.requests().isEmpty)
    }

    @Test func aNameThatResolvesToLoopbackIsRefusedToo() throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let result = HTTPPoster(policy: DestinationPolicy()).post(url: "http://localhost:\(receiver.port)/hook", headers: [], body: [1])
        guard case .refusedDestination? = result.failure else {
            Issue.record("not refused: \(result)")
            return
        }
    }

    @Test func anAllowedAddressGetsTheBodyAndHeaders() throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let poster = HTTPPoster(policy: try DestinationPolicy(allowList: "127.0.0.1/32"))
        let result = poster.post(url: "http://127.0.0.1:\(receiver.port)/hook", headers: [("webhook-id", "abc")], body: Array("{\"a\":1}".utf8))
        #expect(result.succeeded, "\(result)")
        #expect(result.statusCode == 200)
        let got = receiver.settledRequests()
        #expect(got.count == 1)
        #expect(got.first?["id"] as? String == "abc")
        #expect(got.first?["body"] as? String == "{\"a\":1}")
    }

    @Test func aRedirectIsNotFollowed() throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let poster = HTTPPoster(policy: try DestinationPolicy(allowList: "127.0.0.1/32"))
        let result = poster.post(url: "http://127.0.0.1:\(receiver.port)/redirect", headers: [], body: [0x7B, 0x7D])
        #expect(result.statusCode == 302)
        #expect(!result.succeeded)
        #expect(receiver.settledRequests().map { $0["path"] as? String } == ["/redirect"])
    }

    @Test func aReceiverThatHangsTimesOut() throws {
        let receiver = try WebhookReceiver(["--hang-rate", "1", "--hang-seconds", "5"])
        defer { receiver.stop() }
        var options = HTTPPoster.Options()
        options.timeout = .seconds(1)
        let result = HTTPPoster(policy: try DestinationPolicy(allowList: "127.0.0.1/32"), options: options)
            .post(url: "http://127.0.0.1:\(receiver.port)/hook", headers: [], body: [0x7B, 0x7D])
        #expect(result.failure == .timedOut)
        #expect(result.durationNanoseconds < 3_000_000_000)
    }

    @Test func aCancelledAttemptStopsWithinAboutASecond() throws {
        let receiver = try WebhookReceiver(["--hang-rate", "1", "--hang-seconds", "8"])
        defer { receiver.stop() }
        let start = Date()
        let result = HTTPPoster(policy: try DestinationPolicy(allowList: "127.0.0.1/32"))
            .post(url: "http://127.0.0.1:\(receiver.port)/hook", headers: [], body: [0x7B, 0x7D]) { Date().timeIntervalSince(start) > 0.5 }
        #expect(result.failure == .cancelled)
        #expect(Date().timeIntervalSince(start) < 3)
    }
}
