import Foundation
import Testing
@testable import workflowd

@Suite struct ChangeNotifierTests {
    @Test func changesAreSplitIntoPayloadsBelowPostgreSQLsLimitKeepingTheirOrder() {
        let changes = (0..<300).map { _ in ChangeNotifier.Change(instanceId: UUID(), ownerId: UUID()) }
        let payloads = ChangeNotifier.payloads(changes)
        #expect(payloads.allSatisfy { $0.utf8.count <= ChangeNotifier.maxPayloadBytes })
        #expect(payloads.count == 3, "106 changes of 73 bytes fit in one payload")
        #expect(payloads.joined(separator: ",") == changes.map { $0.instanceId.uuidString.lowercased() + "/" + $0.ownerId.uuidString.lowercased() }.joined(separator: ","))
        #expect(ChangeNotifier.payloads([]).isEmpty)
    }

    @Test func aChangeIsWrittenAsInstanceSlashOwnerInLowercase() {
        let instance = UUID(), owner = UUID()
        let change = ChangeNotifier.Change(instanceId: instance, ownerId: owner)
        #expect(ChangeNotifier.payloads([change]) == [instance.uuidString.lowercased() + "/" + owner.uuidString.lowercased()])
        #expect(Set([change, ChangeNotifier.Change(instanceId: instance, ownerId: owner)]).count == 1, "the same change twice is sent once")
    }
}
