//! Connections: a group of channels and the owner of exclusive queues.

use super::channel::ChannelShared;
use super::registry::QueueRec;
use super::{BrokerInner, Channel};
use crate::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

struct ConnState {
    /// `Some` once closed, with the error that closed it, if any.
    closed: Option<Option<Error>>,
    channels: Vec<Weak<ChannelShared>>,
    /// The last channel number given out.
    last_channel: u16,
    /// Exclusive queues this connection declared (SEMANTICS Q3).
    exclusive: Vec<Arc<QueueRec>>,
}

/// A connection's shared state.
pub(crate) struct ConnShared {
    pub(crate) id: u64,
    pub(crate) broker: Arc<BrokerInner>,
    state: Mutex<ConnState>,
}

fn lock(m: &Mutex<ConnState>) -> MutexGuard<'_, ConnState> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ConnShared {
    pub(crate) fn new(id: u64, broker: Arc<BrokerInner>) -> ConnShared {
        ConnShared {
            id,
            broker,
            state: Mutex::new(ConnState {
                closed: None,
                channels: Vec::new(),
                last_channel: 0,
                exclusive: Vec::new(),
            }),
        }
    }

    /// Records an exclusive queue this connection declared.
    pub(crate) fn own(&self, q: Arc<QueueRec>) {
        let mut st = lock(&self.state);
        if st.closed.is_some() {
            drop(st);
            // Declared while the connection closed: delete it now (SEMANTICS Q3).
            self.broker.drop_exclusive(&q);
            return;
        }
        st.exclusive.push(q);
    }

    /// Closes the connection (SEMANTICS F2): every channel closes, exclusive queues go.
    pub(crate) fn close(&self, cause: Option<Error>) {
        let (channels, exclusive) = {
            let mut st = lock(&self.state);
            if st.closed.is_some() {
                return;
            }
            st.closed = Some(cause.clone());
            (
                std::mem::take(&mut st.channels),
                std::mem::take(&mut st.exclusive),
            )
        };
        for ch in channels.iter().filter_map(Weak::upgrade) {
            ch.close(Some(Error::closed(true, cause.clone())));
        }
        for q in exclusive {
            self.broker.drop_exclusive(&q);
        }
    }

    fn closed_error(&self) -> Option<Error> {
        lock(&self.state)
            .closed
            .as_ref()
            .map(|cause| Error::closed(true, cause.clone()))
    }
}

/// A connection to a [`Broker`](super::Broker): opens channels and owns exclusive queues.
///
/// Cheap to clone. It closes on [`close`](Self::close), on a connection error (5xx) in one
/// of its channels, or when the last handle is dropped (every [`Channel`] holds one); closing
/// closes its channels and deletes its exclusive queues (SEMANTICS Q3).
#[derive(Clone)]
pub struct Connection {
    handle: Arc<ConnHandle>,
}

struct ConnHandle {
    shared: Arc<ConnShared>,
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        self.shared.close(None);
    }
}

impl Connection {
    pub(crate) fn new(shared: Arc<ConnShared>) -> Connection {
        Connection {
            handle: Arc::new(ConnHandle { shared }),
        }
    }

    fn shared(&self) -> &Arc<ConnShared> {
        &self.handle.shared
    }

    /// Opens a channel.
    ///
    /// # Errors
    ///
    /// 530 past `channel_max` open channels (SEMANTICS N5); a local error once closed.
    pub fn create_channel(&self) -> Result<Channel, Error> {
        let shared = self.shared();
        let max = shared.broker.options.channel_max;
        let ch = {
            let mut st = lock(&shared.state);
            if let Some(cause) = &st.closed {
                return Err(Error::closed(true, cause.clone()));
            }
            st.channels
                .retain(|c| c.strong_count() > 0 && c.upgrade().is_some_and(|c| c.is_open()));
            if st.channels.len() >= usize::from(max) {
                drop(st);
                let err = Error::amqp(
                    530,
                    format!("NOT_ALLOWED - number of channels opened ({max}) has reached the negotiated channel_max ({max})"),
                );
                shared.close(Some(err.clone()));
                return Err(err);
            }
            st.last_channel = st.last_channel.wrapping_add(1).max(1);
            let ch = Arc::new(ChannelShared::new(st.last_channel, shared.clone()));
            st.channels.push(Arc::downgrade(&ch));
            ch
        };
        shared.broker.track_channel(&ch);
        Ok(Channel::new(ch, self.clone()))
    }

    /// Closes the connection: its channels close (unacked deliveries requeued) and its
    /// exclusive queues are deleted. Closing twice is a no-op.
    pub fn close(&self) {
        self.shared().close(None);
    }

    /// Whether the connection is open.
    pub fn is_open(&self) -> bool {
        self.shared().closed_error().is_none()
    }

    /// The error that closed the connection, if an error did.
    pub fn close_reason(&self) -> Option<Error> {
        self.shared()
            .closed_error()
            .and_then(|e| e.cause().cloned())
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.shared().id)
            .field("open", &self.is_open())
            .finish()
    }
}
