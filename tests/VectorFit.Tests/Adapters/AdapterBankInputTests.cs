using TorchSharp;
using VectorFit.Adapters;
using VectorFit.Tests.Models;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests.Adapters;

/// <summary>
/// Every bad input to an <see cref="AdapterBank"/> gets an error that names the offender and the fix, and changes nothing: the
/// bank's adapters and the model's outputs are as they were.
/// </summary>
[Collection("libtorch")]
public sealed class AdapterBankInputTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("vf-bank-input-").FullName;
    private readonly AdapterBankTests _adapters = new();

    public void Dispose()
    {
        _adapters.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public void AnAdapterOfAnotherBase_IsRefused()
    {
        var other = _adapters.SaveAdapter(11, baseSeed: 2);
        AssertRefused<AdapterMismatchException>(bank => bank.Load("other", other), "not the base model the adapter was trained on");
    }

    [Fact]
    public void MismatchedHeads_AreRefused()
    {
        var headless = _adapters.SaveAdapter(11, config: new VectorFitConfig { Preset = TargetPreset.Bert });
        AssertRefused<AdapterMismatchException>(bank => bank.Load("headless", headless), "saves the heads [] but this bank's are [classifier]");
    }

    [Fact]
    public void DuplicateNames_AreRefused()
    {
        var path = _adapters.SaveAdapter(11);
        AssertRefused<ArgumentException>(bank => bank.Load("a", path), "already has an adapter named 'a'", loadFirst: path);
        AssertRefused<ArgumentException>(bank => bank.Load("base", path), "already has an adapter named 'base'");
    }

    [Fact]
    public void UnknownAdapters_AreRefused()
    {
        AssertRefused<ArgumentOutOfRangeException>(bank => bank.Route([0, 1, 2]).Dispose(), "Row 2 asks for adapter index 2", loadFirst: _adapters.SaveAdapter(11));
        AssertRefused<ArgumentOutOfRangeException>(bank => bank.Route([-1]).Dispose(), "Row 0 asks for adapter index -1");
        AssertRefused<ArgumentException>(bank => bank.Activate("nope"), "no adapter named 'nope'. Adapters: base");
        AssertRefused<ArgumentOutOfRangeException>(bank => bank.Activate(5), "Adapter index 5 is not in the bank");
        AssertRefused<ArgumentException>(bank => bank.Unload("base"), "cannot be unloaded");
        AssertRefused<ArgumentException>(bank => bank.Combine("c", [("nope", 1.0)]), "no adapter named 'nope'");
    }

    [Fact]
    public void BadMixturesAndAlgebra_AreRefused()
    {
        var path = _adapters.SaveAdapter(11);
        AssertRefused<ArgumentException>(bank => bank.RouteMixture(torch.ones(2, 3, dtype: ScalarType.Float64)).Dispose(), "(batch, 2) tensor", loadFirst: path);
        AssertRefused<ArgumentException>(bank => bank.Combine("c", [("a", double.NaN)]), "weights must be finite", loadFirst: path);
        AssertRefused<ArgumentException>(bank => bank.Combine("c", [("a", 1), ("a", 2)]), "listed twice", loadFirst: path);
        AssertRefused<ArgumentException>(bank => bank.Combine("c", [("base", 1)]), "'base' is the base", loadFirst: path);
        AssertRefused<ArgumentOutOfRangeException>(bank => bank.Ties("c", [("a", 1)], density: 0), "must be in (0, 1]", loadFirst: path);
    }

    [Fact]
    public void MoreThanMaxAdapters_AreRefused()
    {
        using var model = AdapterBankTests.Adapted(out var report);
        using var bank = AdapterBank.Create(model, report);
        for (var i = 0; i < AdapterBank.MaxAdapters; i++)
        {
            bank.Add($"t{i}");
        }

        var act = () => bank.Add("one-too-many");
        act.Should().Throw<ArgumentException>().WithMessage("*64 adapters besides the base, its limit (AdapterBank.MaxAdapters)*Unload one first*");
        bank.Count.Should().Be(AdapterBank.MaxAdapters + 1);
    }

    [Fact]
    public void ARouteWhoseBatchDoesNotMatchTheInput_IsRefused()
    {
        using var model = AdapterBankTests.Adapted(out var report);
        using var bank = AdapterBank.Create(model, report);
        using var tokens = TinyBert.Tokens(5, batch: 4);
        using var route = bank.Route([0, 0, 0]);
        var act = () => model.forward(tokens).Dispose();
        act.Should().Throw<InvalidOperationException>().WithMessage("*route has 3 rows*got an input of shape [4, 5, 8]*");
    }

    [Fact]
    public void SvftModelsAndUsedModels_CannotMakeABank()
    {
        using var svft = new TinyBert(seed: 1);
        var svftReport = ModelSurgery.Apply(svft, new VectorFitConfig { Preset = TargetPreset.Bert, Method = new SvftMethod() });
        var act = () => AdapterBank.Create(svft, svftReport);
        act.Should().Throw<ArgumentException>().WithMessage("*VectorFit adapters (σ and b per layer) only*SvftLinear*Method = new VectorFitMethod()*");

        using var used = AdapterBankTests.Adapted(out var report);
        VectorFitAdapter.Load(used, _adapters.SaveAdapter(11));
        var late = () => AdapterBank.Create(used, report);
        late.Should().Throw<ArgumentException>().WithMessage("*differ from their SVD's*Create the AdapterBank right after ModelSurgery.Apply*");
        used.named_modules().Single(m => m.name == "classifier").module.Should().BeOfType<TorchSharp.Modules.Linear>("a refused bank leaves the head alone");
    }

    private void AssertRefused<TException>(Action<AdapterBank> bad, string message, string? loadFirst = null)
        where TException : Exception
    {
        using var model = AdapterBankTests.Adapted(out var report);
        using var bank = AdapterBank.Create(model, report);
        if (loadFirst is not null)
        {
            bank.Load("a", loadFirst);
            bank.Activate("a");
        }

        using var tokens = TinyBert.Tokens(5);
        using var before = model.forward(tokens);
        var names = bank.Names.ToList();

        var act = () => bad(bank);
        act.Should().Throw<TException>().WithMessage($"*{message}*");

        bank.Names.Should().Equal(names, "a refused call changes nothing");
        using var after = model.forward(tokens);
        MaxAbsDiff(after, before).Should().Be(0);
    }
}
