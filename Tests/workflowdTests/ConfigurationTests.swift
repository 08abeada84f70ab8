import ArgumentParser
import PostgresClient
import FastCGI
import Testing
import WorkflowAPI
import WorkflowStore
@testable import workflowd

@Suite struct ConfigurationTests {
    let secret = String(repeating: "s", count: 32)

    func resolve(_ arguments: [String], _ environment: [String: String]) throws -> ServeConfiguration {
        try ServeConfiguration.resolve(ServeFlags.parse(arguments), database: DatabaseFlags.parse([]), environment: environment)
    }

    @Test func defaultsApplyWithOnlyTheRequiredSettings() throws {
        let config = try resolve(["--socket", "/tmp/w.sock"], ["WORKFLOWD_JWT_SECRET": secret])
        #expect(config.address == .unix(path: "/tmp/w.sock", mode: 0o660))
        #expect(config.workers == ServeConfiguration.defaultWorkers)
        #expect(config.poolSize == config.workers)
        #expect(config.poolTimeout == .milliseconds(2000))
        #expect(config.database.statementTimeoutMilliseconds == 5000)
        #expect(config.migrations == .embedded)
    }

    @Test func environmentIsReadAndFlagsWin() throws {
        let env = [
            "WORKFLOWD_JWT_SECRET": secret, "WORKFLOWD_LISTEN": "127.0.0.1:9000", "WORKFLOWD_WORKERS": "4",
            "WORKFLOWD_POOL_SIZE": "3", "DATABASE_URL": "postgresql://db/x", "WORKFLOWD_STATEMENT_TIMEOUT_MS": "100",
            "WORKFLOWD_MIGRATIONS_DIR": "/srv/migrations",
        ]
        let config = try resolve(["--workers", "6"], env)
        #expect(config.address == .tcp(host: "127.0.0.1", port: 9000))
        #expect(config.workers == 6)
        #expect(config.poolSize == 3)
        #expect(config.database.connectionString == "postgresql://db/x")
        #expect(config.database.statementTimeoutMilliseconds == 100)
        #expect(config.migrations == .directory("/srv/migrations"))
    }

    @Test(arguments: [
        (["--socket", "/s"], [:], "WORKFLOWD_JWT_SECRET is not set"),
        (["--socket", "/s"], ["WORKFLOWD_JWT_SECRET": "short"], "at least 32 bytes"),
        (["--socket", "/s", "--listen", "127.0.0.1:1"], [:], "not both"),
        (["--socket", "/s"], ["WORKFLOWD_JWT_SECRET": String(repeating: "s", count: 32), "WORKFLOWD_JWT_SECRET_FILE": "/run/secret"],
         "either WORKFLOWD_JWT_SECRET or WORKFLOWD_JWT_SECRET_FILE, not both"),
        (["--listen", "0.0.0.0"], [:], "--listen must be"),
        (["--socket", "/s", "--socket-mode", "999"], [:], "--socket-mode"),
        (["--socket", "/s", "--workers", "0"], [:], "--workers must be between"),
        (["--socket", "/s"], ["WORKFLOWD_POOL_SIZE": "many"], "WORKFLOWD_POOL_SIZE must be an integer"),
        (["--socket", "/s"], ["WORKFLOWD_CORS_ORIGINS": "https://console.example.com/"], "WORKFLOWD_CORS_ORIGINS must list origins"),
        (["--socket", "/s"], ["WORKFLOWD_CORS_ORIGINS": "*"], "WORKFLOWD_CORS_ORIGINS must list origins"),
    ] as [([String], [String: String], String)])
    func invalidSettingsAreExplained(_ arguments: [String], _ environment: [String: String], _ message: String) {
        var env = environment
        if env["WORKFLOWD_JWT_SECRET"] == nil && !message.contains("JWT") { env["WORKFLOWD_JWT_SECRET"] = secret }
        do {
            _ = try resolve(arguments, env)
            Issue.record("accepted \(arguments) \(environment)")
        } catch let error as ConfigurationError {
            #expect(error.description.contains(message), "\(error.description)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    /// The file is only named here: it is read (and re-read on SIGHUP) when the keys are loaded.
    @Test func aSecretFileReplacesTheSecretAndAFlagWinsOverTheEnvironment() throws {
        let config = try resolve(["--socket", "/s"], ["WORKFLOWD_JWT_SECRET_FILE": "/run/credentials/workflowd.service/jwt"])
        #expect(config.jwtSecret == .file(path: "/run/credentials/workflowd.service/jwt"))
        #expect(config.keySources.rereadsSecret)
        let flagged = try resolve(["--socket", "/s", "--jwt-secret-file", "/etc/workflowd/jwt"], ["WORKFLOWD_JWT_SECRET_FILE": "/other"])
        #expect(flagged.jwtSecret == .file(path: "/etc/workflowd/jwt"))
        let value = try resolve(["--socket", "/s"], ["WORKFLOWD_JWT_SECRET": secret])
        #expect(value.jwtSecret == .value(secret))
        #expect(!value.keySources.rereadsSecret)
    }

    @Test func corsOriginsAreAnAllowListThatIsEmptyByDefault() throws {
        #expect(try resolve(["--socket", "/s"], ["WORKFLOWD_JWT_SECRET": secret]).cors.allowedOrigins.isEmpty)
        let config = try resolve(
            ["--socket", "/s"], ["WORKFLOWD_JWT_SECRET": secret, "WORKFLOWD_CORS_ORIGINS": "https://Console.example.com, http://127.0.0.1:8081"])
        #expect(config.cors.allowedOrigins == ["https://console.example.com", "http://127.0.0.1:8081"])
    }

    @Test func durationsParse() {
        #expect(parseDuration("90s") == 90)
        #expect(parseDuration("15m") == 900)
        #expect(parseDuration("1h") == 3600)
        #expect(parseDuration("2d") == 172_800)
        #expect(parseDuration("300") == 300)
        #expect(parseDuration("soon") == nil)
        #expect(parseDuration("-1h") == nil)
    }
}
