//! Shared queues (`proxy_register_shared_queue` and friends) and the readiness notices Envoy
//! sends to the registering context (`proxy_on_queue_ready`) after an enqueue.

use std::collections::{BTreeMap, VecDeque};

use crate::abi::Status;

/// One queue: who registered it and what waits in it.
#[derive(Clone, Debug, Default)]
pub struct Queue {
    /// The context that registered it (it gets `proxy_on_queue_ready`).
    pub owner: u32,
    /// Items, oldest first.
    pub items: VecDeque<Vec<u8>>,
}

/// Every queue of this VM by name, and notices not yet delivered.
#[derive(Clone, Debug, Default)]
pub struct Queues {
    by_name: BTreeMap<(String, String), u32>,
    queues: BTreeMap<u32, Queue>,
    /// `(owner, queue_id)` notices to deliver once the current callback returns.
    pub ready: VecDeque<(u32, u32)>,
}

/// The VM id this host runs (Envoy's `vm_config.vm_id`, empty by default).
pub const VM_ID: &str = "";

impl Queues {
    /// `proxy_register_shared_queue`: opens the named queue, creating it if new.
    pub fn register(&mut self, name: &str, owner: u32) -> u32 {
        let key = (VM_ID.to_string(), name.to_string());
        if let Some(id) = self.by_name.get(&key) {
            return *id;
        }
        let id = u32::try_from(self.queues.len() + 1).unwrap_or(u32::MAX);
        self.by_name.insert(key, id);
        self.queues.insert(
            id,
            Queue {
                owner,
                items: VecDeque::new(),
            },
        );
        id
    }

    /// `proxy_resolve_shared_queue`.
    pub fn resolve(&self, vm_id: &str, name: &str) -> Result<u32, Status> {
        self.by_name
            .get(&(vm_id.to_string(), name.to_string()))
            .copied()
            .ok_or(Status::NotFound)
    }

    /// `proxy_enqueue_shared_queue`: the owner is told once the current callback returns.
    pub fn enqueue(&mut self, id: u32, item: Vec<u8>) -> Result<(), Status> {
        let queue = self.queues.get_mut(&id).ok_or(Status::NotFound)?;
        queue.items.push_back(item);
        self.ready.push_back((queue.owner, id));
        Ok(())
    }

    /// `proxy_dequeue_shared_queue`.
    pub fn dequeue(&mut self, id: u32) -> Result<Vec<u8>, Status> {
        let queue = self.queues.get_mut(&id).ok_or(Status::NotFound)?;
        queue.items.pop_front().ok_or(Status::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_resolve_enqueue_dequeue() {
        let mut q = Queues::default();
        let id = q.register("spans", 1);
        assert_eq!(q.register("spans", 1), id);
        assert_eq!(q.resolve(VM_ID, "spans"), Ok(id));
        assert_eq!(q.resolve(VM_ID, "other"), Err(Status::NotFound));
        assert_eq!(q.dequeue(id), Err(Status::Empty));
        q.enqueue(id, b"a".to_vec()).unwrap();
        assert_eq!(q.ready.pop_front(), Some((1, id)));
        assert_eq!(q.dequeue(id), Ok(b"a".to_vec()));
        assert_eq!(q.enqueue(id + 1, Vec::new()), Err(Status::NotFound));
    }
}
