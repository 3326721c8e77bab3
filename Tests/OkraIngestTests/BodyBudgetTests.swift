import OkraIngest
import Testing

/// The bound on request-body bytes in flight.
@Suite("Body budget")
struct BodyBudgetTests {
    @Test("shares are taken while they fit and given back once, also when dropped")
    func accounting() {
        let budget = BodyBudget(limit: 1000)
        let first = budget.take(600)
        #expect(first != nil)
        #expect(budget.take(500) == nil, "over the limit")
        let second = budget.take(400)
        #expect(second != nil)
        #expect(budget.inUse == 1000)
        first?.release()
        first?.release()
        #expect(budget.inUse == 400, "a second release gives nothing back twice")
        do {
            let dropped = budget.take(600)
            #expect(dropped != nil)
            #expect(budget.inUse == 1000)
        }
        #expect(budget.inUse == 400, "a share that is dropped gives its bytes back")
        second?.release()
        #expect(budget.inUse == 0)
    }
}
