using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace TorchSharp.Binding.Tests;

sealed class ListParent : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<Linear> layers;

    public ListParent(ModuleList<Linear> layers) : base(nameof(ListParent))
    {
        this.layers = layers;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        foreach (var l in layers) x = l.forward(x);
        return x;
    }
}

sealed class DictParent : nn.Module<Tensor, Tensor>
{
    private readonly ModuleDict<Linear> heads;

    public DictParent(ModuleDict<Linear> heads) : base(nameof(DictParent))
    {
        this.heads = heads;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => heads["a"].forward(x);
}

[Collection("libtorch")]
public class ContainerTests
{
    static double[] Values(Tensor t) => t.detach().to_type(ScalarType.Float64).data<double>().ToArray();

    static Linear Fixed(long inF, long outF, double w, double b)
    {
        var lin = nn.Linear(inF, outF);
        using (no_grad()) {
            lin.weight.fill_(w);
            lin.bias!.fill_(b);
        }
        return lin;
    }

    [Fact]
    public void SequentialNamesChildrenByPositionAndChainsForward()
    {
        using var seq = nn.Sequential(Fixed(2, 3, 1, 0), nn.ReLU(), Fixed(3, 1, 2, -1));
        seq.named_children().Select(c => c.name).Should().Equal("0", "1", "2");
        seq.named_parameters().Select(p => p.name).Should().Equal("0.weight", "0.bias", "2.weight", "2.bias");
        seq.state_dict().Keys.Should().Equal("0.weight", "0.bias", "2.weight", "2.bias");
        seq.Count.Should().Be(3);
        // x = (1, −3): first layer sums to −2 per unit, ReLU gives 0, last gives 2·0 − 1.
        Values(seq.forward(tensor(new float[] { 1, -3 }))).Should().Equal(-1);
        // x = (2, 1): 3 per unit, last gives 2·9 − 1.
        Values(seq.call(tensor(new float[] { 2, 1 }))).Should().Equal(17);
    }

    [Fact]
    public void SequentialFromNamedModulesAppendAndIndexers()
    {
        using var seq = nn.Sequential(("in", nn.Linear(2, 2)), ("act", nn.Tanh()));
        seq.append("out", nn.Linear(2, 1)).append(nn.Identity());
        seq.named_children().Select(c => c.name).Should().Equal("in", "act", "out", "3");
        seq[1].Should().BeOfType<Tanh>();
        seq[(1, 3)].named_children().Select(c => c.name).Should().Equal("act", "out");
        seq[(null, 1)].Count.Should().Be(1);
        seq[1..].Count.Should().Be(3);
        seq.Invoking(s => s[(0, 9)]).Should().Throw<IndexOutOfRangeException>();
        nn.Sequential(new[] { nn.Linear(1, 1) }.AsEnumerable<nn.Module<Tensor, Tensor>>()).Count.Should().Be(1);
        nn.Sequential(new List<(string, nn.Module<Tensor, Tensor>)> { ("z", nn.ReLU()) }).named_children().Single().name.Should().Be("z");
        nn.Sequential(Tuple.Create<string, nn.Module<Tensor, Tensor>>("t", nn.ReLU())).named_children().Single().name.Should().Be("t");
    }

    [Fact]
    public void EmptySequentialReturnsANewHandleToTheInput()
    {
        using var seq = nn.Sequential();
        var x = ones(2);
        var y = seq.forward(x);
        y.Should().NotBeSameAs(x);
        y.Dispose();
        x.IsInvalid.Should().BeFalse();
        Values(x).Should().Equal(1, 1);
    }

    [Fact]
    public void SequentialEvalSwitchesItselfAndItsChildren()
    {
        using var seq = nn.Sequential(nn.Dropout(0.5), nn.Linear(1, 1));
        seq.eval();
        seq.training.Should().BeFalse();
        seq.modules().Should().OnlyContain(m => !m.training);
        seq.train();
        seq.training.Should().BeTrue();
        seq.modules().Should().OnlyContain(m => m.training);
    }

    [Fact]
    public void SequentialRegisterModuleDoesNotChangeItsChildrenOrForward()
    {
        using var seq = nn.Sequential(Fixed(1, 1, 2, 0));
        seq.register_module("extra", Fixed(1, 1, 5, 0));
        seq.named_children().Select(c => c.name).Should().Equal("0");
        Values(seq.forward(ones(1))).Should().Equal(2);
    }

    [Fact]
    public void ReplacingAnEntryOfSequentialsModuleListChangesChildrenAndForward()
    {
        // Model surgery on a Sequential (as with the real TorchSharp) goes through its private _modules list.
        using var seq = nn.Sequential(Fixed(1, 1, 2, 0), nn.ReLU());
        var modules = (List<nn.IModule<Tensor, Tensor>>)typeof(Sequential).GetField("_modules", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(seq)!;
        var names = (List<string>)typeof(Sequential).GetField("_names", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(seq)!;
        names.Should().Equal("0", "1");
        var replacement = Fixed(1, 1, 3, 0);
        modules[0] = replacement;
        seq.named_children().First().module.Should().BeSameAs(replacement);
        Values(seq.forward(ones(1))).Should().Equal(3);
        seq.named_parameters().First().parameter.Should().BeSameAs(replacement.weight);
    }

    [Fact]
    public void SequentialToConvertsItsModules()
    {
        using var seq = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2));
        seq.to(ScalarType.Float64);
        seq.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float64);
        seq.forward(ones(1, 2, dtype: ScalarType.Float64)).dtype.Should().Be(ScalarType.Float64);
    }

    [Fact]
    public void SequentialDisposeDisposesItsModules()
    {
        var lin = nn.Linear(1, 1);
        var seq = nn.Sequential(lin);
        seq.Dispose();
        lin.weight.IsInvalid.Should().BeTrue();
    }

    [Fact]
    public void ModuleListRegistersOnlyWhenItsParentRegistersIt()
    {
        var list = nn.ModuleList(Fixed(1, 1, 2, 0), Fixed(1, 1, 3, 0));
        list.named_children().Should().BeEmpty();
        using var parent = new ListParent(list);
        list.named_children().Select(c => c.name).Should().Equal("0", "1");
        parent.named_parameters().Select(p => p.name).Should().Equal("layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias");
        Values(parent.forward(ones(1))).Should().Equal(6);
    }

    [Fact]
    public void ModuleListChangesAfterRegistrationAffectIterationButNotRegistration()
    {
        var list = nn.ModuleList(Fixed(1, 1, 2, 0), Fixed(1, 1, 3, 0));
        using var parent = new ListParent(list);
        var old = list[1];
        var replacement = Fixed(1, 1, 5, 0);
        list[1] = replacement;
        list.Add(Fixed(1, 1, 7, 0));
        Values(parent.forward(ones(1))).Should().Equal(70);
        list.named_children().Select(c => c.name).Should().Equal("0", "1");
        list.named_children().Single(c => c.name == "1").module.Should().BeSameAs(old);
        list.register_module("1", null!);
        list.register_module("1", replacement);
        parent.get_parameter("layers.1.weight").Should().BeSameAs(replacement.weight);
    }

    [Fact]
    public void ModuleListHasTheIListSurface()
    {
        var a = nn.Linear(1, 1);
        var b = nn.Linear(1, 1);
        var c = nn.Linear(1, 1);
        using var list = nn.ModuleList<Linear>();
        list.Add(a);
        list.append(b, c);
        list.Count.Should().Be(3);
        list.IndexOf(b).Should().Be(1);
        list.Contains(c).Should().BeTrue();
        list.Remove(b).Should().BeTrue();
        list.Insert(0, b);
        list.Should().Equal(b, a, c);
        list.RemoveAt(2);
        list.extend(new[] { c });
        var copy = new Linear[3];
        list.CopyTo(copy, 0);
        copy.Should().Equal(b, a, c);
        list.IsReadOnly.Should().BeFalse();
        list.Clear();
        list.Count.Should().Be(0);
    }

    [Fact]
    public void ModuleDictRegistersByKeyWhenItsParentRegistersIt()
    {
        var dict = nn.ModuleDict(("a", Fixed(1, 1, 2, 0)), ("b", Fixed(1, 1, 3, 0)));
        dict.named_children().Should().BeEmpty();
        using var parent = new DictParent(dict);
        dict.named_children().Select(c => c.name).Should().Equal("a", "b");
        parent.named_modules().Select(m => m.name).Should().Equal("heads", "heads.a", "heads.b");
        Values(parent.forward(ones(1))).Should().Equal(2);
    }

    [Fact]
    public void ModuleDictHasItsTwoIndexersAndDictionarySurface()
    {
        var a = nn.Linear(1, 1);
        var b = nn.Linear(1, 1);
        var c = nn.Linear(1, 1);
        using var dict = new ModuleDict<Linear>();
        dict.Add("a", a);
        dict.Add(("b", b));
        dict["a"].Should().BeSameAs(a);
        dict[1].Should().Be(("b", b));
        dict["b"] = c;
        dict[1].Should().Be(("b", c));
        dict.Keys.Should().Equal("a", "b");
        dict.Values.Should().Equal(a, c);
        dict.keys().Should().Equal("a", "b");
        dict.ContainsKey("a").Should().BeTrue();
        dict.TryGetValue("b", out var got).Should().BeTrue();
        got.Should().BeSameAs(c);
        dict.Remove("a").Should().BeTrue();
        dict.Count.Should().Be(1);
        ((IEnumerable<(string, Linear)>)dict).Select(e => e.Item1).Should().Equal("b");
        typeof(ModuleDict<Linear>).GetProperties().Count(p => p.Name == "Item").Should().Be(2);
    }

    [Fact]
    public void OrderedDictKeepsInsertionOrderAndEnumeratesTuples()
    {
        var d = new OrderedDict<string, int> { { "x", 1 }, { "y", 2 } };
        d["z"] = 3;
        d["x"] = 10;
        ((IEnumerable<(string, int)>)d).Select(e => e.Item1).Should().Equal("x", "y", "z");
        d[0].Should().Be(("x", 10));
        d.Keys.Should().Equal("x", "y", "z");
        d.Values.Should().Equal(10, 2, 3);
        d.Remove("y").Should().BeTrue();
        d.Count.Should().Be(2);
        d.Invoking(x => x.Remove("nope")).Should().Throw<KeyNotFoundException>();
        d.Insert(0, ("w", 0));
        d.IndexOf(("w", 0)).Should().Be(0);
        d.RemoveAt(0);
        d.ContainsKey("w").Should().BeFalse();
        var asPairs = (IEnumerable<KeyValuePair<string, int>>)d;
        asPairs.Invoking(p => p.GetEnumerator()).Should().Throw<NotImplementedException>();
        d.clear();
        d.Count.Should().Be(0);
    }
}
