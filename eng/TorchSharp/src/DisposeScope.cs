// Dispose scopes: tensors created while a scope is open are disposed when it closes, unless moved out.
using static TorchSharp.torch;

namespace TorchSharp
{
    /// <summary>Keeps track of the disposables (tensors) created while it is the innermost open scope.</summary>
    public sealed class DisposeScope : IDisposable
    {
        private readonly DisposeScopeManager manager;
        internal HashSet<IDisposable> Disposables { get; } = new(ReferenceEqualityComparer.Instance);

        internal DisposeScope(DisposeScopeManager manager, DisposeScope? outer)
        {
            this.manager = manager;
            OuterScope = outer;
        }

        /// <summary>The scope this one was opened inside, if any (relinked when that one closes first).</summary>
        internal DisposeScope? OuterScope { get; set; }

        private bool disposed;

        private void ThrowIfDisposed()
        {
            if (disposed) throw new ObjectDisposedException(GetType().FullName);
        }

        /// <summary>The disposables this scope will dispose.</summary>
        public IReadOnlyList<IDisposable> DisposablesView {
            get {
                ThrowIfDisposed();
                return Disposables.ToList();
            }
        }

        /// <summary>How many disposables this scope holds.</summary>
        public int DisposablesCount {
            get {
                ThrowIfDisposed();
                return Disposables.Count;
            }
        }

        public T MoveToOuter<T>(T disposable) where T : IDisposable => MoveToOther(OuterScope, disposable);

        public void MoveToOuter(params IDisposable[] disposables) => MoveToOther(OuterScope, disposables);

        public void MoveToOuter(IEnumerable<IDisposable> disposables) => MoveToOther(OuterScope, disposables);

        public T MoveToOther<T>(DisposeScope? scope, T disposable) where T : IDisposable
        {
            MoveToOther(scope, new IDisposable[] { disposable });
            return disposable;
        }

        public void MoveToOther(DisposeScope? scope, params IDisposable[] disposables) => MoveToOther(scope, (IEnumerable<IDisposable>)disposables);

        public void MoveToOther(DisposeScope? scope, IEnumerable<IDisposable> disposables)
        {
            ThrowIfDisposed();
            foreach (var d in disposables) {
                if (!Disposables.Remove(d)) continue;
                scope?.Disposables.Add(d);
                if (d is Tensor t) t.OwningDisposeScope = scope;
            }
        }

        public T Detach<T>(T disposable) where T : IDisposable => MoveToOther(null, disposable);

        public void Detach(params IDisposable[] disposables) => MoveToOther(null, disposables);

        public void Detach(IEnumerable<IDisposable> disposables) => MoveToOther(null, disposables);

        public void Attach(IDisposable disposable)
        {
            ThrowIfDisposed();
            if (disposable is not Tensor t) throw new InvalidOperationException("DisposeScope can only manage Tensor or PackedSequence");
            t.OwningDisposeScope?.Disposables.Remove(t);
            t.OwningDisposeScope = this;
            Disposables.Add(disposable);
        }

        public void Attach(params IDisposable[] disposables)
        {
            foreach (var d in disposables) Attach(d);
        }

        /// <summary>Disposes everything the scope holds, keeping the scope open.</summary>
        public void DisposeEverything() => DisposeEverythingBut(Enumerable.Empty<IDisposable>());

        public void DisposeEverythingBut(IEnumerable<IDisposable> inKeep)
        {
            ThrowIfDisposed();
            var keep = new HashSet<IDisposable>(inKeep, ReferenceEqualityComparer.Instance);
            foreach (var d in Disposables.ToList()) {
                if (keep.Contains(d)) continue;
                Disposables.Remove(d);
                if (d is Tensor t) t.OwningDisposeScope = null;
                d.Dispose();
            }
        }

        public void DisposeEverythingBut(params IDisposable[] keep) => DisposeEverythingBut((IEnumerable<IDisposable>)keep);

        public T DisposeEverythingBut<T>(T keep) where T : IDisposable
        {
            DisposeEverythingBut(new IDisposable[] { keep });
            return keep;
        }

        /// <summary>Closes the scope, disposing everything it still holds.</summary>
        public void Dispose()
        {
            if (disposed) return;
            DisposeEverything();
            manager.RemoveDisposeScope(this);
            disposed = true;
        }

        public void MarkAsDisposed(IDisposable disposable)
        {
            ThrowIfDisposed();
            Disposables.Remove(disposable);
        }

        public bool Contains(IDisposable disposable) => Disposables.Contains(disposable);

        internal static void ReplaceWith(Tensor original, Tensor replacement)
        {
            var scope = original.OwningDisposeScope;
            if (scope is null) return;
            scope.Disposables.Remove(original);
            original.OwningDisposeScope = null;
            scope.Disposables.Add(replacement);
            replacement.OwningDisposeScope = scope;
        }
    }

    /// <summary>The per-thread stack of open dispose scopes.</summary>
    public sealed class DisposeScopeManager
    {
        [ThreadStatic] private static DisposeScopeManager? threadSingleton;
        private readonly List<DisposeScope> scopes = new();

        internal static DisposeScopeManager ThreadSingleton => threadSingleton ??= new DisposeScopeManager();

        internal DisposeScope? CurrentDisposeScope => scopes.Count == 0 ? null : scopes[^1];

        internal DisposeScope NewDisposeScope()
        {
            var scope = new DisposeScope(this, CurrentDisposeScope);
            scopes.Add(scope);
            return scope;
        }

        internal DisposeScope? RegisterOnCurrentDisposeScope(IDisposable disposable)
        {
            var scope = CurrentDisposeScope;
            scope?.Disposables.Add(disposable);
            return scope;
        }

        internal void RemoveDisposeScope(DisposeScope scope)
        {
            scopes.Remove(scope);
            // A scope closed before the ones opened inside it: those now sit in its outer scope.
            foreach (var s in scopes) {
                if (ReferenceEquals(s.OuterScope, scope)) s.OuterScope = scope.OuterScope;
            }
        }
    }

    public static partial class torch
    {
        /// <summary>Opens a dispose scope on this thread; tensors created until it is disposed belong to it.</summary>
        public static DisposeScope NewDisposeScope() => DisposeScopeManager.ThreadSingleton.NewDisposeScope();

        /// <summary>Runs a function inside a dispose scope, keeping only the tensor it returns.</summary>
        public static Tensor WrappedTensorDisposeScope(Func<Tensor> expr)
        {
            using var scope = NewDisposeScope();
            var result = expr();
            return result.MoveToOuterDisposeScope();
        }
    }
}
