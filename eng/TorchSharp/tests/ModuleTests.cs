using System.Reflection;
using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace TorchSharp.Binding.Tests;

/// A base class with a private component: RegisterComponents must see it too (after the derived fields).
abstract class BaseWithPrivate : nn.Module<Tensor, Tensor>
{
    private readonly Parameter baseScale = nn.Parameter(ones(2));

    protected BaseWithPrivate(string name) : base(name) { }

    public Parameter BaseScale => baseScale;
}

/// Holds components in every way RegisterComponents treats them.
sealed class Holder : BaseWithPrivate
{
    private readonly Linear first = nn.Linear(2, 3);
    private readonly Parameter alpha = nn.Parameter(zeros(3));
    private readonly Tensor running = zeros(3);
    [ComponentName(Name = "renamed")]
    private readonly Linear second = nn.Linear(3, 2);
    private readonly Linear? missing = null;
    private readonly Tensor? absent = null;
    private readonly int notAComponent = 7;

    public Holder() : base(nameof(Holder))
    {
        RegisterComponents();
    }

    public Linear First => first;
    public Linear Second => second;
    public Parameter Alpha => alpha;
    public Tensor Running => running;
    public int NotAComponent => notAComponent + (missing is null ? 0 : 1) + (absent is null ? 0 : 1);

    public override Tensor forward(Tensor x) => second.forward(first.forward(x) + alpha + running) * BaseScale;
}

/// Two children sharing one Linear: its parameters are listed once.
sealed class Sharing : nn.Module<Tensor, Tensor>
{
    private readonly Linear a;
    private readonly Linear b;

    public Sharing()
        : base(nameof(Sharing))
    {
        a = nn.Linear(2, 2);
        b = a;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => b.forward(a.forward(x));
}

/// A public get-only property named like a parameter: TorchSharp's generic to() tries to set it and throws.
sealed class GetOnlyProperty : nn.Module<Tensor, Tensor>
{
    private Parameter _w = nn.Parameter(ones(2));

    public GetOnlyProperty() : base(nameof(GetOnlyProperty))
    {
        register_parameter("w", _w);
    }

    public Parameter w => _w;

    public override Tensor forward(Tensor x) => x * _w;
}

/// A public settable property named like a buffer: to() goes through the property.
sealed class SettableProperty : nn.Module<Tensor, Tensor>
{
    public SettableProperty() : base(nameof(SettableProperty))
    {
        stats = zeros(2);
        register_buffer("stats", stats);
    }

    public Tensor stats { get; set; }

    public override Tensor forward(Tensor x) => x + stats;
}

sealed class TwoInputs : nn.Module<Tensor, Tensor, Tensor>
{
    public TwoInputs() : base(nameof(TwoInputs)) { }

    public override Tensor forward(Tensor a, Tensor b) => a + b;
}

sealed class SixInputs : nn.Module<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor>
{
    public SixInputs() : base(nameof(SixInputs)) { }

    public override Tensor forward(Tensor a, Tensor b, Tensor c, Tensor d, Tensor e, Tensor f) => a + b + c + d + e + f;
}

sealed class FourNoParams : ParameterLessModule<Tensor, Tensor, Tensor, Tensor, Tensor>
{
    public FourNoParams() : base(nameof(FourNoParams)) { }

    public override Tensor forward(Tensor a, Tensor b, Tensor c, Tensor d) => a * b * c * d;
}

/// Exposes Module's protected helpers.
sealed class Helpers : nn.Module<Tensor, Tensor>
{
    public Helpers() : base(nameof(Helpers)) { }

    public void Clear() => ClearModules();

    public static (Device, ScalarType) Defaults(Device? device = null, ScalarType? dtype = null) => GetDefaultDeviceAndType(device, dtype);

    public void Register(string name, Tensor? value, bool persistent) => ConditionallyRegisterBuffer(name, value, persistent);

    public override Tensor forward(Tensor x) => x;
}

sealed class NoParams : ParameterLessModule<Tensor, Tensor>
{
    public NoParams() : base(nameof(NoParams)) { }

    public override Tensor forward(Tensor x) => x.neg();
}

sealed class WithDict : nn.Module<Tensor, Tensor>
{
    private readonly ModuleDict<nn.Module<Tensor, Tensor>> heads = nn.ModuleDict<nn.Module<Tensor, Tensor>>(("a", nn.Linear(2, 2)));

    public WithDict() : base(nameof(WithDict)) { RegisterComponents(); }

    public override Tensor forward(Tensor x) => heads["a"].forward(x);
}

[Collection("libtorch")]
public class ModuleTests
{
    static double[] Values(Tensor t) => t.detach().to_type(ScalarType.Float64).data<double>().ToArray();

    [Fact]
    public void RegisterComponentsTakesFieldsInDeclarationOrderDerivedFirstThenBasePrivates()
    {
        using var h = new Holder();
        h.named_children().Select(c => c.name).Should().Equal("first", "renamed");
        h.named_parameters(recurse: false).Select(p => p.name).Should().Equal("alpha", "baseScale");
        h.named_buffers().Select(b => b.name).Should().Equal("running");
        h.named_parameters().Select(p => p.name).Should().Equal(
            "alpha", "baseScale", "first.weight", "first.bias", "renamed.weight", "renamed.bias");
        h.get_parameter("alpha").Should().BeSameAs(h.Alpha);
        h.get_buffer("running").Should().BeSameAs(h.Running);
        h.get_parameter("renamed.weight").Should().BeSameAs(h.Second.weight);
    }

    [Fact]
    public void RegisterComponentsRunsOnceAndSkipsNamesAlreadyRegistered()
    {
        using var h = new Holder();
        var before = h.named_parameters().Count();
        var method = typeof(nn.Module).GetMethod("RegisterComponents", BindingFlags.Instance | BindingFlags.NonPublic)!;
        method.Invoke(h, null);
        h.named_parameters().Count().Should().Be(before);
    }

    [Fact]
    public void RegisterModuleThrowsOnTakenNameAndNullRemoves()
    {
        using var h = new Holder();
        var act = () => h.register_module("first", nn.Linear(1, 1));
        act.Should().Throw<InvalidOperationException>().WithMessage("Sub-module first is already registered.");
        h.register_module("first", null!);
        h.named_children().Select(c => c.name).Should().Equal("renamed");
        h.register_module("first", nn.Linear(1, 1));
        h.named_children().Select(c => c.name).Should().Equal("renamed", "first");
        h.Invoking(m => m.register_module("a.b", nn.Linear(1, 1))).Should().Throw<ArgumentException>();
        h.Invoking(m => m.register_module("", nn.Linear(1, 1))).Should().Throw<ArgumentException>();
        h.Invoking(m => m.register_module("missing", null!)).Should().NotThrow();
    }

    [Fact]
    public void RegisterModuleRegistersTheSubmodulesOwnFields()
    {
        using var parent = new Sharing();
        using var h = new Holder();
        parent.register_module("holder", h);
        parent.named_modules().Select(m => m.name).Should().Contain(new[] { "holder", "holder.first", "holder.renamed" });
    }

    [Fact]
    public void RegisterParameterAndBufferThrowOnTakenNamesAndNull()
    {
        using var h = new Holder();
        h.Invoking(m => m.register_parameter("alpha", nn.Parameter(zeros(1))))
            .Should().Throw<InvalidOperationException>().WithMessage("Parameter alpha is already registered.");
        h.Invoking(m => m.register_parameter("p", null!)).Should().Throw<ArgumentNullException>();
        h.Invoking(m => m.register_buffer("running", zeros(1)))
            .Should().Throw<InvalidOperationException>().WithMessage("Tensor running is already registered.");
        h.Invoking(m => m.register_buffer("b", null!)).Should().Throw<ArgumentNullException>();
        var disposed = zeros(1);
        disposed.Dispose();
        h.Invoking(m => m.register_buffer("b", disposed)).Should().Throw<ArgumentNullException>();
    }

    [Fact]
    public void NonPersistentBuffersAreInvisibleEvenWithIncludeNonpersistent()
    {
        using var h = new Holder();
        var cache = ones(2);
        h.register_buffer("cache", cache, persistent: false);
        h.named_buffers(include_nonpersistent: true).Select(b => b.name).Should().Equal("running");
        h.buffers().Should().HaveCount(1);
        h.state_dict().Keys.Should().NotContain("cache");
        h.get_buffer("cache").Should().BeSameAs(cache);
        h.has_buffer("cache").Should().BeTrue();
    }

    [Fact]
    public void SharedParametersAreListedOnce()
    {
        using var s = new Sharing();
        s.named_children().Select(c => c.name).Should().Equal("a", "b");
        s.named_parameters().Select(p => p.name).Should().Equal("a.weight", "a.bias");
        // state_dict also walks each registered child, so the shared tensors appear under both names.
        s.state_dict().Keys.Should().Equal("a.weight", "a.bias", "b.weight", "b.bias");
    }

    [Fact]
    public void NamedModulesListsChildrenThenDescendantsChildByChild()
    {
        using var outer = nn.Sequential(("x", nn.Sequential(nn.Linear(1, 1), nn.ReLU())), ("y", nn.Linear(1, 1)));
        outer.named_modules().Select(m => m.name).Should().Equal("x", "y", "x.0", "x.1");
        outer.modules().Should().HaveCount(4);
        outer.children().Should().HaveCount(2);
    }

    [Fact]
    public void StateDictHoldsTheTensorsUnderDottedNamesWithPrefixAndDestination()
    {
        using var h = new Holder();
        var sd = h.state_dict();
        sd.Keys.Should().Equal("alpha", "baseScale", "first.weight", "first.bias", "renamed.weight", "renamed.bias", "running");
        sd["first.weight"].Should().BeSameAs(h.First.weight);
        var dest = new Dictionary<string, Tensor>();
        h.state_dict(dest, "m").Should().BeSameAs(dest);
        dest.Keys.Should().Contain("m.first.weight").And.Contain("m.running");
    }

    [Fact]
    public void LoadStateDictCopiesValuesInPlaceAndReportsMissingAndUnexpected()
    {
        using var a = new Holder();
        using var b = new Holder();
        var weight = b.First.weight;
        var (missing, unexpected) = b.load_state_dict(a.state_dict());
        missing.Should().BeEmpty();
        unexpected.Should().BeEmpty();
        b.First.weight.Should().BeSameAs(weight);
        Values(b.First.weight).Should().Equal(Values(a.First.weight));

        var sd = a.state_dict();
        sd.Remove("alpha");
        sd["extra"] = zeros(1);
        b.Invoking(m => m.load_state_dict(sd)).Should().Throw<InvalidOperationException>();
        (missing, unexpected) = b.load_state_dict(sd, strict: false);
        missing.Should().Equal("alpha");
        unexpected.Should().Equal("extra");
        (missing, unexpected) = b.load_state_dict(sd, strict: true, skip: new[] { "alpha", "extra" });
        missing.Should().BeEmpty();
        unexpected.Should().BeEmpty();
    }

    [Fact]
    public void LoadStateDictWithSkipLeavesTheSkippedEntryAlone()
    {
        using var b = new Holder();
        var sd = new Dictionary<string, Tensor> { ["alpha"] = full(new long[] { 3 }, 5.0f), ["running"] = full(new long[] { 3 }, 2.0f) };
        b.load_state_dict(sd, strict: false, skip: new[] { "running" });
        Values(b.Alpha).Should().Equal(5, 5, 5);
        Values(b.Running).Should().Equal(0, 0, 0);
    }

    [Fact]
    public void TrainAndEvalRecurseAndTrainingStartsTrue()
    {
        using var h = new Holder();
        h.training.Should().BeTrue();
        h.eval();
        h.training.Should().BeFalse();
        h.modules().Should().OnlyContain(m => !m.training);
        h.train();
        h.modules().Should().OnlyContain(m => m.training);
        h.train(false);
        h.First.training.Should().BeFalse();
    }

    [Fact]
    public void ZeroGradSetsGradsToNullOrZeroesThemInPlace()
    {
        using var h = new Holder();
        h.forward(ones(4, 2)).sum().backward();
        h.First.weight.grad.Should().NotBeNull();
        h.zero_grad(set_to_none: false);
        Values(h.First.weight.grad!).Should().OnlyContain(v => v == 0);
        h.zero_grad();
        h.parameters().All(p => p.grad is null).Should().BeTrue();
    }

    [Fact]
    public void ToFloat64ConvertsParametersBuffersAndFieldsAndKeepsGrads()
    {
        using var h = new Holder();
        h.forward(ones(4, 2)).sum().backward();
        var oldWeight = h.First.weight;
        var gradBefore = Values(h.First.weight.grad!);
        h.to(ScalarType.Float64).Should().BeSameAs(h);
        h.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float64);
        h.buffers().Should().OnlyContain(b => b.dtype == ScalarType.Float64);
        // Linear replaces its parameters (TorchSharp's managed Linear): new objects, the old ones disposed.
        h.First.weight.Should().NotBeSameAs(oldWeight);
        oldWeight.IsInvalid.Should().BeTrue();
        h.First.weight.grad!.dtype.Should().Be(ScalarType.Float64);
        Values(h.First.weight.grad!).Should().Equal(gradBefore);
        h.First.weight.requires_grad.Should().BeTrue();
        h.First.weight.is_leaf.Should().BeTrue();
        // Fields follow the registration.
        h.Alpha.dtype.Should().Be(ScalarType.Float64);
        h.Running.dtype.Should().Be(ScalarType.Float64);
        h.get_parameter("alpha").Should().BeSameAs(h.Alpha);
        h.forward(ones(1, 2, dtype: ScalarType.Float64)).dtype.Should().Be(ScalarType.Float64);
    }

    [Fact]
    public void ToRejectsNonFloatingTypesAndUnavailableCuda()
    {
        using var h = new Holder();
        h.Invoking(m => m.to(ScalarType.Int64)).Should().Throw<ArgumentException>();
        h.Invoking(m => m.to(DeviceType.CUDA)).Should().Throw<InvalidOperationException>().WithMessage("CUDA is not available.");
        h.to(CPU).Should().BeSameAs(h);
        h.cpu().Should().BeSameAs(h);
        h.to("cpu").Should().BeSameAs(h);
        h.@double().First.weight.dtype.Should().Be(ScalarType.Float64);
        h.to(CPU, ScalarType.Float32).First.weight.dtype.Should().Be(ScalarType.Float32);
        h.to(zeros(1, dtype: ScalarType.Float64)).Alpha.dtype.Should().Be(ScalarType.Float64);
    }

    [Fact]
    public void ToThrowsOnATreeHoldingAModuleDict()
    {
        using var m = new WithDict();
        m.Invoking(x => x.to(ScalarType.Float64)).Should().Throw<ArgumentException>();
    }

    [Fact]
    public void ToGoesThroughAPublicPropertyOfTheSameName()
    {
        using var ok = new SettableProperty();
        ok.to(ScalarType.Float64);
        ok.stats.dtype.Should().Be(ScalarType.Float64);

        using var bad = new GetOnlyProperty();
        bad.Invoking(m => m.to(ScalarType.Float64)).Should().Throw<ArgumentException>();
    }

    [Fact]
    public void ApplyVisitsDescendantsBeforeTheModule()
    {
        using var s = nn.Sequential(("a", nn.Linear(1, 1)), ("b", nn.ReLU()));
        var seen = new List<string>();
        s.apply(m => seen.Add(m.GetName()));
        seen.Should().Equal("Linear", "ReLU", "torch::nn::SequentialImpl");
    }

    [Fact]
    public void LookupsFollowDottedNames()
    {
        using var h = new Holder();
        h.has_parameter("first.bias").Should().BeTrue();
        h.has_parameter("first.nothing").Should().BeFalse();
        h.has_parameter("nothing").Should().BeFalse();
        h.has_buffer("running").Should().BeTrue();
        h.has_buffer("first.running").Should().BeFalse();
        h.get_parameter("nothing.weight").Should().BeNull();
        h.get_buffer("nothing").Should().BeNull();
    }

    [Fact]
    public void GetNameReturnsTheConstructorNameOrLibtorchsClassName()
    {
        using var h = new Holder();
        h.GetName().Should().Be("Holder");
        nn.Linear(1, 1).GetName().Should().Be("Linear");
        nn.Embedding(2, 2).GetName().Should().Be("torch::nn::EmbeddingImpl");
        nn.Tanh().GetName().Should().Be("Tanh");
        nn.ModuleList().GetName().Should().Be("ModuleList");
    }

    [Fact]
    public void DisposeReleasesParametersBuffersAndSubmodules()
    {
        var h = new Holder();
        var w = h.First.weight;
        var alpha = h.Alpha;
        var running = h.Running;
        h.Dispose();
        w.IsInvalid.Should().BeTrue();
        alpha.IsInvalid.Should().BeTrue();
        running.IsInvalid.Should().BeTrue();
        h.Dispose();   // idempotent

        // Registering a disposed module removes the entry instead.
        using var parent = new Sharing();
        var ln = nn.LayerNorm(2);
        ln.Dispose();
        parent.register_module("a", ln);
        parent.named_children().Select(c => c.name).Should().Equal("b");
    }

    [Fact]
    public void ParametersOfADisposedTensorAreSkipped()
    {
        using var h = new Holder();
        h.Alpha.Dispose();
        h.named_parameters(false).Select(p => p.name).Should().Equal("baseScale");
    }

    [Fact]
    public void CallRunsHooksAndForwardDoesNot()
    {
        using var lin = nn.Linear(2, 2);
        var calls = new List<string>();
        var pre = lin.register_forward_pre_hook((m, x) => { calls.Add("pre"); return x * 0; });
        var post = lin.register_forward_hook((m, x, y) => { calls.Add("post"); return y + 1; });
        lin.register_forward_pre_hook(_ => calls.Add("module-pre"));
        var x = ones(1, 2);
        var y = lin.call(x);
        calls.Should().Equal("module-pre", "pre", "post");
        Values(y).Should().Equal(Values(lin.bias! + 1));
        calls.Clear();
        lin.forward(x);
        calls.Should().BeEmpty();
        pre.remove();
        post.remove();
        lin.call(x);
        calls.Should().Equal("module-pre");
    }

    [Fact]
    public void MultiInputModulesCallForward()
    {
        using var two = new TwoInputs();
        Values(two.call(ones(2), ones(2))).Should().Equal(2, 2);
        ((nn.IModule<Tensor, Tensor, Tensor>)two).call(ones(1), zeros(1)).item<float>().Should().Be(1);
        using var four = new FourNoParams();
        four.call(full(new long[] { 1 }, 2.0f), ones(1) * 3, ones(1), ones(1)).item<float>().Should().Be(6);
        four.Invoking(m => m.register_buffer("b", zeros(1))).Should().Throw<InvalidOperationException>();
        using var six = new SixInputs();
        six.call(ones(1), ones(1), ones(1), ones(1), ones(1), ones(1)).item<float>().Should().Be(6);
    }

    [Fact]
    public void ParameterLessModulesRefuseParametersAndBuffersAndIgnoreTo()
    {
        using var m = new NoParams();
        m.Invoking(x => x.register_parameter("p", nn.Parameter(zeros(1)))).Should().Throw<InvalidOperationException>();
        m.Invoking(x => x.register_buffer("b", zeros(1))).Should().Throw<InvalidOperationException>();
        m.Invoking(x => x.register_module("l", nn.Linear(1, 1))).Should().Throw<InvalidOperationException>();
        m.register_module("r", nn.ReLU());
        m.to(ScalarType.Int64).Should().BeSameAs(m);   // parameter-less: no check, nothing to move
    }

    [Fact]
    public void ConversionExtensionsAndProtectedHelpers()
    {
        using var h = new Holder();
        h.half().First.weight.dtype.Should().Be(ScalarType.Float16);
        h.bfloat16().First.weight.dtype.Should().Be(ScalarType.BFloat16);
        h.@float().Alpha.dtype.Should().Be(ScalarType.Float32);
        h.Invoking(m => m.@long()).Should().Throw<ArgumentException>();
        h.Invoking(m => m.@int()).Should().Throw<ArgumentException>();
        h.Invoking(m => m.cuda()).Should().Throw<InvalidOperationException>();
        h._to(zeros(1, dtype: ScalarType.Float64), false).Should().BeSameAs(h);
        h.Alpha.dtype.Should().Be(ScalarType.Float64);

        using var m = new Helpers();
        m.add_module("a", nn.Linear(1, 1));
        m.named_children().Should().HaveCount(1);
        m.Clear();
        m.named_children().Should().BeEmpty();
        Helpers.Defaults().Should().Be((CPU, ScalarType.Float32));
        Helpers.Defaults(dtype: ScalarType.Float64).Item2.Should().Be(ScalarType.Float64);
        var t = zeros(2);
        m.Register("t", t, persistent: true);
        m.get_buffer("t").Should().BeSameAs(t);
        var t2 = ones(2);
        m.Register("t", t2, persistent: true);
        m.named_buffers().Single().buffer.Should().BeSameAs(t2);
        m.Register("t", null, persistent: true);
        m.named_buffers().Should().BeEmpty();
    }

    [Fact]
    public void ComponentNameReadsTheAttribute()
    {
        var field = typeof(Holder).GetField("second", BindingFlags.Instance | BindingFlags.NonPublic)!;
        field.ComponentName().Should().Be("renamed");
        typeof(Holder).GetField("first", BindingFlags.Instance | BindingFlags.NonPublic)!.ComponentName().Should().Be("first");
    }

    [Fact]
    public void NamedChildrenIsTheOrderedDictOfRegistrations()
    {
        using var h = new Holder();
        var children = h.named_children();
        children.Should().BeOfType<OrderedDict<string, nn.Module>>();
        int n = 0;
        foreach (var _ in children) n++;
        n.Should().Be(2);
    }

    [Fact]
    public void LibtorchErrorsInForwardSurfaceAsExternalException()
    {
        using var lin = nn.Linear(3, 2);
        lin.Invoking(l => l.forward(ones(2, 4))).Should().Throw<ExternalException>();
    }
}
