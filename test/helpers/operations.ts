import { graphql } from '../../src/generated/graphql/index.js';

export const Register = graphql(`
  mutation Register($input: RegisterInput!) {
    register(input: $input) {
      __typename
      ... on MutationRegisterSuccess { data { id username email emailVerified } }
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`);

export const VerifyEmail = graphql(`
  mutation VerifyEmail($token: String!) {
    verifyEmail(token: $token) {
      __typename
      ... on MutationVerifyEmailSuccess { data }
      ... on Error { code message }
    }
  }
`);

export const ResendVerification = graphql(`
  mutation ResendVerification($email: String!) {
    resendVerification(email: $email) {
      __typename
      ... on MutationResendVerificationSuccess { data }
      ... on Error { code message }
    }
  }
`);

export const Login = graphql(`
  mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) {
      __typename
      ... on MutationLoginSuccess { data { accessToken accessTokenExpiresAt refreshToken user { id email } } }
      ... on Error { code message }
    }
  }
`);

export const Refresh = graphql(`
  mutation Refresh($refreshToken: String!) {
    refreshToken(refreshToken: $refreshToken) {
      __typename
      ... on MutationRefreshTokenSuccess { data { accessToken refreshToken } }
      ... on Error { code message }
    }
  }
`);

export const RevokeRefreshToken = graphql(`
  mutation RevokeRefreshToken($refreshToken: String!) {
    revokeRefreshToken(refreshToken: $refreshToken)
  }
`);

export const Logout = graphql(`
  mutation Logout {
    logout
  }
`);

export const ForgotPassword = graphql(`
  mutation ForgotPassword($email: String!) {
    forgotPassword(email: $email) {
      __typename
      ... on MutationForgotPasswordSuccess { data }
      ... on Error { code message }
    }
  }
`);

export const ResetPassword = graphql(`
  mutation ResetPassword($token: String!, $password: String!) {
    resetPassword(token: $token, password: $password) {
      __typename
      ... on MutationResetPasswordSuccess { data }
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`);

export const ChangePassword = graphql(`
  mutation ChangePassword($currentPassword: String!, $newPassword: String!) {
    changePassword(currentPassword: $currentPassword, newPassword: $newPassword) {
      __typename
      ... on MutationChangePasswordSuccess { data }
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`);

export const Me = graphql(`
  query Me {
    me { balance role permissions authenticatedWith user { id username email role emailVerified balance } }
  }
`);

export const CreateKey = graphql(`
  mutation CreateKey($input: CreateApiKeyInput!) {
    createApiKey(input: $input) {
      __typename
      ... on MutationCreateApiKeySuccess {
        data { key apiKey { id name prefix preview active dailyLimit weeklyLimit monthlyLimit scopes expiresAt createdAt lastUsedAt } }
      }
      ... on Error { code message }
      ... on ValidationError { field }
      ... on LimitReachedError { limit }
    }
  }
`);

export const ListKeys = graphql(`
  query ListKeys {
    apiKeys { id name prefix preview active dailyLimit weeklyLimit monthlyLimit lastUsedAt revokedAt }
  }
`);

export const GetKey = graphql(`
  query GetKey($id: ID!) {
    apiKey(id: $id) {
      __typename
      ... on QueryApiKeySuccess { data { id name preview active dailyLimit lastUsedAt } }
      ... on Error { code message }
    }
  }
`);

export const UpdateKey = graphql(`
  mutation UpdateKey($id: ID!, $input: UpdateApiKeyInput!) {
    updateApiKey(id: $id, input: $input) {
      __typename
      ... on MutationUpdateApiKeySuccess { data { id name dailyLimit weeklyLimit monthlyLimit } }
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`);

export const RevealKey = graphql(`
  mutation RevealKey($id: ID!) {
    revealApiKey(id: $id) {
      __typename
      ... on MutationRevealApiKeySuccess { data }
      ... on Error { code message }
    }
  }
`);

export const RegenerateKey = graphql(`
  mutation RegenerateKey($id: ID!) {
    regenerateApiKey(id: $id) {
      __typename
      ... on MutationRegenerateApiKeySuccess { data { key apiKey { id prefix } } }
      ... on Error { code message }
    }
  }
`);

export const RevokeKey = graphql(`
  mutation RevokeKey($id: ID!) {
    revokeApiKey(id: $id) {
      __typename
      ... on MutationRevokeApiKeySuccess { data { id active revokedAt } }
      ... on Error { code message }
    }
  }
`);

export const AdjustBalance = graphql(`
  mutation AdjustBalance($userId: ID!, $amount: Money!, $note: String!) {
    adjustBalance(userId: $userId, amount: $amount, note: $note) {
      __typename
      ... on MutationAdjustBalanceSuccess { data { id type subtype subtypeLabel amount balanceAfter note } }
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`);

export const Users = graphql(`
  query Users($search: String, $first: Int) {
    users(search: $search, first: $first) {
      edges { node { id email role balance apiKeys { id preview } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const Usage = graphql(`
  query Usage {
    usage { remaining }
  }
`);

export const KeyUsage = graphql(`
  query KeyUsage {
    keyUsage {
      global { limits { daily weekly monthly } used { daily weekly monthly } remaining { daily weekly monthly } }
      keys { id name limits { daily weekly monthly } used { daily weekly monthly } remaining { daily weekly monthly } }
    }
  }
`);

export const DailyUsage = graphql(`
  query DailyUsage($days: Int) {
    dailyUsage(days: $days) {
      daily { date shared dedicated browser total deposits bytes { shared dedicated browser total } }
      hourly { hour shared dedicated browser total deposits }
    }
  }
`);

export const BalanceSummary = graphql(`
  query BalanceSummary {
    balanceSummary {
      balance
      summary {
        deposit { total count bySubtype { subtype label total count } }
        consumption { total count bySubtype { subtype label total count } }
        adjustment { total count bySubtype { subtype label total count } }
      }
    }
  }
`);

export const Pricing = graphql(`
  query Pricing {
    pricing { grid rate credits tiers { minCredits rate } prices { product label pricePerGb } }
  }
`);

export const PricingGrids = graphql(`
  query PricingGrids {
    pricingGrids { name isDefault tiers { minCredits rate } }
  }
`);

export const Transactions = graphql(`
  query Transactions($page: Int, $limit: Int, $type: TransactionType, $subtype: Int, $apiKeyId: ID) {
    transactions(page: $page, limit: $limit, type: $type, subtype: $subtype, apiKeyId: $apiKeyId) {
      total page limit items { id type subtype subtypeLabel amount apiKeyId apiKeyName status note createdAt }
    }
  }
`);

export const AccountSettings = graphql(`
  query AccountSettings {
    accountSettings {
      dailyLimit weeklyLimit monthlyLimit alertLowBalance alertThreshold autoReloadEnabled autoReloadThreshold
      autoReloadAmount saveCardConsent webhookUrl webhookEvents { balanceLow deposit dailyUsage } webhookSecret
    }
  }
`);

export const UpdateAccountLimits = graphql(`
  mutation UpdateAccountLimits($input: AccountLimitsInput!) {
    updateAccountLimits(input: $input) {
      __typename
      ... on MutationUpdateAccountLimitsSuccess { data { dailyLimit weeklyLimit monthlyLimit } }
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`);

export const SetTrafficPrice = graphql(`
  mutation SetTrafficPrice($product: TrafficProduct!, $pricePerGb: Money!) {
    setTrafficPrice(product: $product, pricePerGb: $pricePerGb) {
      __typename
      ... on MutationSetTrafficPriceSuccess { data { product label pricePerGb } }
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`);

export const SetPricingTiers = graphql(`
  mutation SetPricingTiers($grid: String!, $tiers: [PricingTierInput!]!) {
    setPricingTiers(grid: $grid, tiers: $tiers) {
      __typename
      ... on MutationSetPricingTiersSuccess { data { name isDefault tiers { minCredits rate } } }
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`);

export const AssignPricingGrid = graphql(`
  mutation AssignPricingGrid($userId: ID!, $grid: String!) {
    assignPricingGrid(userId: $userId, grid: $grid) {
      __typename
      ... on MutationAssignPricingGridSuccess { data { grid rate credits } }
      ... on Error { code message }
    }
  }
`);
