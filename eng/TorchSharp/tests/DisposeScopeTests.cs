using TorchSharp.Modules;
using static TorchSharp.torch;

namespace TorchSharp.Binding.Tests;

/// Dispose scopes with TorchSharp's semantics: what is created while a scope is the innermost open one belongs
/// to it and is disposed with it, unless moved out, detached or disposed earlier.
[Collection("libtorch")]
public class DisposeScopeTests
{
    [Fact]
    public void TemporariesAreDisposedWithTheScope()
    {
        Tensor a, b;
        using (var scope = NewDisposeScope()) {
            a = ones(2);
            b = a + 1;
            scope.DisposablesCount.Should().Be(2);
            scope.Contains(a).Should().BeTrue();
            scope.DisposablesView.Should().Contain(new IDisposable[] { a, b });
        }
        a.IsInvalid.Should().BeTrue();
        b.IsInvalid.Should().BeTrue();
        FluentActions.Invoking(() => a.Handle).Should().Throw<InvalidOperationException>();
        a.ToString().Should().Contain("invalid");
    }

    [Fact]
    public void TensorsCreatedOutsideAnyScopeAreNotTracked()
    {
        var outside = ones(2);
        using (NewDisposeScope()) {
            var inside = outside * 2;
        }
        outside.IsInvalid.Should().BeFalse();
    }

    [Fact]
    public void MoveToOuterDisposeScopeKeepsATensorForTheEnclosingScope()
    {
        Tensor kept, temp;
        using (var outer = NewDisposeScope()) {
            using (var inner = NewDisposeScope()) {
                temp = ones(2);
                kept = (temp * 3).MoveToOuterDisposeScope();
                inner.Contains(kept).Should().BeFalse();
                outer.Contains(kept).Should().BeTrue();
            }
            temp.IsInvalid.Should().BeTrue();
            kept.IsInvalid.Should().BeFalse();
            kept.data<float>().ToArray().Should().Equal(3f, 3f);
        }
        kept.IsInvalid.Should().BeTrue();   // the outer scope disposed it
    }

    [Fact]
    public void MovingOutOfTheOutermostScopeDetaches()
    {
        Tensor kept;
        using (NewDisposeScope()) kept = ones(2).MoveToOuterDisposeScope();
        kept.IsInvalid.Should().BeFalse();
        using (NewDisposeScope()) { }
        kept.IsInvalid.Should().BeFalse();
    }

    [Fact]
    public void DetachFromDisposeScopeOutlivesEveryScope()
    {
        Tensor detached;
        using (var outer = NewDisposeScope()) {
            using (NewDisposeScope()) detached = ones(2).DetachFromDisposeScope();
            outer.Contains(detached).Should().BeFalse();
        }
        detached.IsInvalid.Should().BeFalse();
        detached.Dispose();
        detached.IsInvalid.Should().BeTrue();
    }

    [Fact]
    public void MoveToOtherDisposeScope()
    {
        using var a = NewDisposeScope();
        var anchor = ones(1);
        using var b = NewDisposeScope();
        var t = ones(1);
        t.MoveToOtherDisposeScope(a).Should().BeSameAs(t);
        a.Contains(t).Should().BeTrue();
        b.Contains(t).Should().BeFalse();
        var u = ones(1);
        u.MoveToOtherDisposeScope(anchor);
        a.Contains(u).Should().BeTrue();
        var free = ones(1).DetachFromDisposeScope();
        free.MoveToOtherDisposeScope(b);
        b.Contains(free).Should().BeTrue();
        b.Dispose();
        free.IsInvalid.Should().BeTrue();
        t.IsInvalid.Should().BeFalse();
        u.MoveToOtherDisposeScope((DisposeScope?)null);
        a.Dispose();
        t.IsInvalid.Should().BeTrue();
        u.IsInvalid.Should().BeFalse();
    }

    [Fact]
    public void ScopeMethodsMoveDetachAndAttach()
    {
        using var outer = NewDisposeScope();
        using var inner = NewDisposeScope();
        var (x, y, z) = (ones(1), ones(1), ones(1));
        inner.MoveToOuter(x).Should().BeSameAs(x);
        outer.Contains(x).Should().BeTrue();
        inner.MoveToOuter(y, z);
        outer.DisposablesCount.Should().Be(3);
        var w = ones(1);
        inner.MoveToOuter(new List<IDisposable> { w });
        outer.Contains(w).Should().BeTrue();
        outer.MoveToOther(inner, x).Should().BeSameAs(x);
        inner.Contains(x).Should().BeTrue();
        outer.MoveToOther(inner, y, z);
        outer.MoveToOther(inner, new List<IDisposable> { w });
        inner.DisposablesCount.Should().Be(4);
        inner.Detach(x).Should().BeSameAs(x);
        inner.Detach(y, z);
        inner.Detach(new List<IDisposable> { w });
        inner.DisposablesCount.Should().Be(0);
        outer.Attach(x);
        outer.Attach(y, z);
        outer.DisposablesCount.Should().Be(3);
        inner.Attach(x);   // attaching moves it from its current scope
        outer.Contains(x).Should().BeFalse();
        inner.Contains(x).Should().BeTrue();
        FluentActions.Invoking(() => inner.Attach(new MemoryStream())).Should().Throw<InvalidOperationException>();
        inner.Dispose();
        x.IsInvalid.Should().BeTrue();
        w.IsInvalid.Should().BeFalse();   // detached
        outer.Dispose();
        (y.IsInvalid, z.IsInvalid).Should().Be((true, true));
    }

    [Fact]
    public void DisposeEverythingAndDisposeEverythingBut()
    {
        using var scope = NewDisposeScope();
        var (a, b, c) = (ones(1), ones(1), ones(1));
        scope.DisposeEverythingBut(a).Should().BeSameAs(a);
        (a.IsInvalid, b.IsInvalid, c.IsInvalid).Should().Be((false, true, true));
        scope.Contains(a).Should().BeTrue();
        var (d, e) = (ones(1), ones(1));
        scope.DisposeEverythingBut(a, d);
        (a.IsInvalid, d.IsInvalid, e.IsInvalid).Should().Be((false, false, true));
        scope.DisposeEverythingBut(new List<IDisposable> { d });
        (a.IsInvalid, d.IsInvalid).Should().Be((true, false));
        var f = ones(1);   // the scope stays open
        scope.Contains(f).Should().BeTrue();
        scope.DisposeEverything();
        (d.IsInvalid, f.IsInvalid).Should().Be((true, true));
        scope.DisposablesCount.Should().Be(0);
    }

    [Fact]
    public void DisposingATensorEarlyRemovesItFromItsScope()
    {
        using var scope = NewDisposeScope();
        var t = ones(1);
        t.Dispose();
        scope.Contains(t).Should().BeFalse();
        scope.DisposablesCount.Should().Be(0);
        var u = ones(1);
        scope.MarkAsDisposed(u);
        scope.Contains(u).Should().BeFalse();
        u.Dispose();
        t.Dispose();   // twice: harmless
    }

    [Fact]
    public void ParametersSurviveScopesTheirModulesUseAndReplaceTheirDataInScopes()
    {
        var p = nn.Parameter(ones(2));
        using (NewDisposeScope()) {
            var y = p * 2;
            y.sum().backward();
        }
        p.IsInvalid.Should().BeFalse();
        p.grad!.data<float>().ToArray().Should().Equal(2f, 2f);
        // Wrapping a scoped tensor: the parameter takes the tensor's place in its scope, the tensor is emptied.
        Parameter q;
        Tensor data;
        using (var scope = NewDisposeScope()) {
            data = ones(2);
            q = nn.Parameter(data);
            data.IsInvalid.Should().BeTrue();
            scope.Contains(q).Should().BeTrue();
            scope.Contains(data).Should().BeFalse();
            q.MoveToOuterDisposeScope();
        }
        q.IsInvalid.Should().BeFalse();
        q.requires_grad.Should().BeTrue();
        nn.Parameter(ones(1), requires_grad: false).requires_grad.Should().BeFalse();
    }

    [Fact]
    public void NestedScopesDisposedOutOfOrderRelink()
    {
        var outer = NewDisposeScope();
        var middle = NewDisposeScope();
        var inner = NewDisposeScope();
        middle.Dispose();
        var t = ones(1);
        inner.Contains(t).Should().BeTrue();
        t.MoveToOuterDisposeScope();
        outer.Contains(t).Should().BeTrue();   // the closed middle scope is skipped
        inner.Dispose();
        t.IsInvalid.Should().BeFalse();
        outer.Dispose();
        t.IsInvalid.Should().BeTrue();
    }

    [Fact]
    public void AClosedScopeRefusesFurtherUseAndClosesOnce()
    {
        var scope = NewDisposeScope();
        scope.Dispose();
        scope.Dispose();
        FluentActions.Invoking(() => scope.DisposablesCount).Should().Throw<ObjectDisposedException>();
        FluentActions.Invoking(() => scope.DisposablesView).Should().Throw<ObjectDisposedException>();
        FluentActions.Invoking(() => scope.DisposeEverything()).Should().Throw<ObjectDisposedException>();
        var t = ones(1);
        FluentActions.Invoking(() => scope.Attach(t)).Should().Throw<ObjectDisposedException>();
        t.IsInvalid.Should().BeFalse();
    }

    [Fact]
    public void WrappedTensorDisposeScopeKeepsOnlyTheResult()
    {
        Tensor temp = null!;
        var result = WrappedTensorDisposeScope(() => {
            temp = ones(2) * 2;
            return temp + 1;
        });
        temp.IsInvalid.Should().BeTrue();
        result.data<float>().ToArray().Should().Equal(3f, 3f);
    }

    [Fact]
    public void OperationsInsideTheBindingLeaveNothingBehind()
    {
        var x = tensor(new[] { 1.0, 2, 3, 4, 5, 6 }, new long[] { 2, 3 });
        using var scope = NewDisposeScope();
        var r = x[TensorIndex.Colon, TensorIndex.Slice(1, null), TensorIndex.None];
        x.index_put_(0.0, 0, TensorIndex.Tensor(tensor(new long[] { 0 })));
        // the index tensor made above, and the result: nothing else (no intermediate views)
        scope.DisposablesCount.Should().Be(2);
        scope.Contains(r).Should().BeTrue();
    }
}
