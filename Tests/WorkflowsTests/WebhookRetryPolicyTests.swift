import Testing
import Workflows

@Suite struct WebhookRetryPolicyTests {
    let policy = WebhookRetryPolicy()

    @Test func theFirstRetriesComeWithinSecondsAndEachWaitDoublesWithinItsJitterBand() {
        #expect(policy.delay(afterAttempt: 1, random: 0) == .seconds(1))
        #expect(policy.delay(afterAttempt: 1, random: 1) == .seconds(2))
        #expect(policy.delay(afterAttempt: 2, random: 1) == .seconds(4))
        #expect(policy.delay(afterAttempt: 3, random: 0.5) == .seconds(6))
    }

    @Test func theWaitIsCappedAtTheMaximumEvenAfterManyAttempts() {
        #expect(policy.delay(afterAttempt: 12, random: 1) == .seconds(3600))
        #expect(policy.delay(afterAttempt: 1000, random: 1) == .seconds(3600))
        #expect(policy.delay(afterAttempt: 1000, random: 0) == .seconds(1800))
    }

    @Test func aDayOfRetriesIsAboutFortyAttempts() {
        // What "retried for about 24 hours" means in attempts, at the middle of the jitter band.
        var elapsed = Duration.zero
        var attempts = 0
        while elapsed < .seconds(24 * 3600) {
            attempts += 1
            elapsed += policy.delay(afterAttempt: attempts, random: 0.5)
        }
        #expect((35...50).contains(attempts), "\(attempts)")
    }

    @Test func aSecretIsRandomAndItsKeyIsThirtyTwoBytes() {
        let a = WebhookSecret.random()
        #expect(a.text.hasPrefix("whsec_"))
        #expect(a.key?.count == 32)
        #expect(a != WebhookSecret.random())
        #expect(WebhookSecret(text: "not a secret").key == nil)
    }
}
