import Logging
import Testing
@testable import workflowd

@Suite struct LogHandlerTests {
    /// Each request copies the logger and sets three metadata keys: a handler larger than an existential's
    /// inline buffer would be boxed on the heap and its box copied on the first write.
    @Test func theHandlerFitsAnExistentialsInlineBuffer() {
        #expect(MemoryLayout<StderrLogHandler>.size <= 3 * MemoryLayout<Int>.size)
    }

    @Test func metadataSetOnACopyStaysOnTheCopy() {
        var shared = StderrLogHandler(level: .info, format: .json)
        shared[metadataKey: "process"] = "workflowd"
        var request = shared
        request[metadataKey: "request_id"] = "r1"
        request[metadataKey: "user_id"] = "u1"
        #expect(shared.metadata == ["process": "workflowd"])
        #expect(request.metadata == ["process": "workflowd", "request_id": "r1", "user_id": "u1"])
    }
}
