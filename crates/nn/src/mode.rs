//! Saving and restoring the training/evaluation flags of a module tree, so that a call
//! which switches to evaluation mode (`evaluate`, `predict`) leaves the model as it found it.

use graft_autograd::Var;
use graft_tensor::Float;

use crate::module::{Module, Visitor};

/// The own training flags of every module in a tree that has one, in visit order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainingModes(Vec<bool>);

impl TrainingModes {
    /// Records the flags of `model` and its descendants.
    pub fn of<T: Float, M: Module<T> + ?Sized>(model: &M) -> Self {
        let mut flags = Vec::new();
        collect(model, &mut flags);
        TrainingModes(flags)
    }

    /// Puts the recorded flags back (on the same model: the tree must not have changed).
    pub fn restore<T: Float, M: Module<T> + ?Sized>(&self, model: &M) {
        let mut flags = self.0.iter().copied();
        restore(model, &mut flags);
    }
}

fn collect<T: Float, M: Module<T> + ?Sized>(m: &M, out: &mut Vec<bool>) {
    struct Collector<'a>(&'a mut Vec<bool>);
    impl<T: Float> Visitor<T> for Collector<'_> {
        fn parameter(&mut self, _: &str, _: &Var<T>) {}
        fn child(&mut self, _: &str, m: &dyn Module<T>) {
            collect(m, self.0);
        }
    }
    out.extend(m.own_training());
    m.visit(&mut Collector(out));
}

fn restore<T: Float, M: Module<T> + ?Sized>(m: &M, flags: &mut dyn Iterator<Item = bool>) {
    struct Restorer<'a>(&'a mut dyn Iterator<Item = bool>);
    impl<T: Float> Visitor<T> for Restorer<'_> {
        fn parameter(&mut self, _: &str, _: &Var<T>) {}
        fn child(&mut self, _: &str, m: &dyn Module<T>) {
            restore(m, self.0);
        }
    }
    if m.own_training().is_some() {
        if let Some(flag) = flags.next() {
            m.set_own_training(flag);
        }
    }
    m.visit(&mut Restorer(flags));
}
